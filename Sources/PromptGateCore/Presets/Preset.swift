/// A brand's tuning of the optimizers, loaded from `presets/*.yaml` (after `extends` is resolved) and
/// validated: every name it refers to exists, every bound is consistent. Immutable and shared.
public struct Preset: Sendable, Equatable {
    /// Its name (`default`, `fashion`, ...), what requests and keys select it by.
    public var name: String
    /// What it is for, for people choosing one.
    public var description: String?
    /// The preset it extends, if any.
    public var parent: String?
    /// The model behind the workflow and how it uses `cfg_scale`.
    public var model: ModelProfile
    /// Values for parameters the request leaves out.
    public var defaults: GenerationDefaults
    /// Bounds the request must respect.
    public var limits: GenerationLimits
    /// Optimizer stage names, in order (`lora_tags`, `template`, `style`, `quality`, `negative`,
    /// `lora_weights`, `defaults`); one left out is off.
    public var optimizers: [String]
    /// Words the quality stage appends.
    public var qualityWords: [String]
    /// Style name → words the style stage appends.
    public var styles: [String: [String]]
    /// The style used when the request names none.
    public var defaultStyle: String?
    /// Terms the negative stage adds.
    public var negativePrompt: [String]
    /// The LoRAs it knows, applies and reweights.
    public var loras: LoraSettings
    /// Product templates by name.
    public var templates: [String: ProductTemplate]
    /// Brand rules added on top of the rule packs (e.g. competitor names flagged).
    public var rules: [RuleDefinition]
    /// Requests with their expected output, checked by `promptgate presets test`.
    public var examples: [PresetExample]
    /// The file it was loaded from.
    public var source: String

    /// Every optimizer stage, in the order they run.
    public static let optimizerNames = [
        "lora_tags", "template", "style", "quality", "negative", "lora_weights", "defaults",
    ]
}

/// What the preset knows about the model behind the workflow.
public struct ModelProfile: Sendable, Equatable {
    /// How `cfg_scale` is used by the workflow.
    public enum Guidance: String, Sendable, Equatable, CaseIterable {
        /// Classic classifier-free guidance: negatives work when cfg_scale > 1.
        case cfg
        /// Guidance-distilled FLUX: `cfg_scale` is the FLUX guidance value; the graph's own CFG is `trueCFG`.
        case flux
    }

    /// The model's name (metadata).
    public var name: String
    /// How the workflow uses `cfg_scale`.
    public var guidance: Guidance
    /// For `flux`: the real CFG of the graph (1 for the usual BasicGuider graphs, so negatives are ignored).
    public var trueCFG: Double
    /// Whether the workflow has a negative prompt input at all (known once a graph is bound; presets assume so).
    public var hasNegativeInput: Bool

    /// - Parameters:
    ///   - name: the model's name.
    ///   - guidance: how the workflow uses `cfg_scale`.
    ///   - trueCFG: the graph's own CFG, for `flux`.
    ///   - hasNegativeInput: whether the graph takes a negative prompt.
    public init(name: String, guidance: Guidance, trueCFG: Double = 1, hasNegativeInput: Bool = true) {
        self.name = name
        self.guidance = guidance
        self.trueCFG = trueCFG
        self.hasNegativeInput = hasNegativeInput
    }

    /// FLUX guidance above this is SD-style CFG sent to a guidance-distilled model (`cfg_scale.flux_guidance`):
    /// FLUX.1-dev was distilled around 3.5, and from about 7 its images burn out.
    public static let fluxGuidanceWarningAbove = 5.0

    /// Whether a negative prompt can have any effect at this `cfg_scale`.
    public func usesNegativePrompt(cfgScale: Double) -> Bool {
        hasNegativeInput && (guidance == .flux ? trueCFG : cfgScale) > 1
    }
}

/// Parameter values used when the request omits them.
public struct GenerationDefaults: Sendable, Equatable {
    /// Image width in pixels.
    public var width: Int
    /// Image height in pixels.
    public var height: Int
    /// Sampler steps.
    public var steps: Int
    /// Guidance scale.
    public var cfgScale: Double
    /// ComfyUI sampler name.
    public var sampler: String
    /// ComfyUI scheduler name.
    public var scheduler: String

    /// Defaults with every value given.
    public init(width: Int, height: Int, steps: Int, cfgScale: Double, sampler: String, scheduler: String) {
        self.width = width
        self.height = height
        self.steps = steps
        self.cfgScale = cfgScale
        self.sampler = sampler
        self.scheduler = scheduler
    }
}

/// Bounds a request must respect.
public struct GenerationLimits: Sendable, Equatable {
    /// Allowed widths.
    public var width: ClosedRange<Int>
    /// Allowed heights.
    public var height: ClosedRange<Int>
    /// Width and height must be multiples of this (16 for FLUX latents).
    public var multipleOf: Int
    /// Largest width × height.
    public var maxPixels: Int
    /// Allowed sampler steps.
    public var steps: ClosedRange<Int>
    /// Allowed guidance scales.
    public var cfgScale: ClosedRange<Double>
    /// LoRA weights are clamped into this range after reweighting.
    public var loraWeight: ClosedRange<Double>
    /// Allowed samplers and schedulers (empty: any).
    public var samplers: [String]
    /// Allowed schedulers (empty: any).
    public var schedulers: [String]
}

/// The preset's LoRAs: which exist, which are always applied, and the keyword rules that reweight them.
public struct LoraSettings: Sendable, Equatable {
    /// Name → model file on the ComfyUI side.
    public var available: [String: String]
    /// Applied to every request first.
    public var base: [LoRA]
    /// Keyword rules, applied in order.
    public var rules: [LoraRule]

    /// The alias a request's LoRA name stands for: the alias itself, else (ignoring case) an alias, a file
    /// name (`FLUX.1-Turbo-Alpha.safetensors`, or its last path component) or a file's stem without its
    /// model extension (`FLUX.1-Turbo-Alpha`), in that order of precedence; nil when nothing matches. Among
    /// several matches of one kind the alphabetically first alias wins.
    public func alias(for name: String) -> String? {
        if available[name] != nil { return name }
        let wanted = name.lowercased()
        let aliases = available.keys.sorted()
        let candidates: [(String) -> [String]] = [
            { [$0.lowercased()] },
            { alias in Self.fileNames(self.available[alias] ?? "") },
            { alias in Self.fileNames(self.available[alias] ?? "").map(Self.stem) },
        ]
        for names in candidates {
            if let alias = aliases.first(where: { names($0).contains(wanted) }) { return alias }
        }
        return nil
    }

    /// The names a request may use for the LoRA `alias`, for error messages: the alias, its file and stem.
    public var knownNames: [String] {
        available.keys.sorted().map { alias in
            let file = available[alias] ?? alias
            let stem = Self.stem(file)
            let extra = [file, stem].filter { $0 != alias }
            return extra.isEmpty ? alias : "\(alias) (\(Array(Set(extra)).sorted().joined(separator: ", ")))"
        }
    }

    /// A file and its last path component, lower-cased.
    private static func fileNames(_ file: String) -> [String] {
        let lowered = file.lowercased()
        guard let slash = lowered.lastIndex(where: { $0 == "/" || $0 == "\\" }) else { return [lowered] }
        return [lowered, String(lowered[lowered.index(after: slash)...])]
    }

    /// A file name without its model extension (`.safetensors`, `.ckpt`, `.pt`, `.pth`, `.bin`).
    private static func stem(_ file: String) -> String {
        for suffix in [".safetensors", ".ckpt", ".pt", ".pth", ".bin"] where file.lowercased().hasSuffix(suffix) {
            return String(file.dropLast(suffix.count))
        }
        return file
    }
}

/// "When the prompt mentions one of these keywords, change the weight of the LoRAs whose name matches."
public struct LoraRule: Sendable, Equatable {
    /// What a matching rule does to a weight.
    public enum Operation: Sendable, Equatable {
        case multiply(Double), add(Double), set(Double)

        func apply(to weight: Double) -> Double {
            switch self {
            case .multiply(let factor): weight * factor
            case .add(let delta): weight + delta
            case .set(let value): value
            }
        }
    }

    /// Phrases that trigger the rule (case-insensitive, whole words).
    public var keywords: [String]
    /// A glob over LoRA names (`*`, `?`); `*` means all.
    public var loras: String
    /// What it does to the weights.
    public var operation: Operation
    private let pattern: [Unicode.Scalar]

    /// A rule applying `operation` to the LoRAs matching `loras` when a keyword occurs.
    public init(keywords: [String], loras: String, operation: Operation) {
        self.keywords = keywords
        self.loras = loras
        self.operation = operation
        pattern = Array(loras.unicodeScalars)
    }

    /// Whether `name` matches the glob.
    public func applies(to name: String) -> Bool {
        if loras == "*" { return true }
        if !loras.unicodeScalars.contains(where: { $0 == "*" || $0 == "?" }) { return loras == name }
        return Self.glob(pattern, Array(name.unicodeScalars))
    }

    private static func glob(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar]) -> Bool {
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// A product template: a base prompt around the user's, a style LoRA, an aspect ratio.
public struct ProductTemplate: Sendable, Equatable {
    /// With `{prompt}` where the user's prompt goes; without it, the text is put in front.
    public var prompt: String
    /// A LoRA added when the template is used.
    public var lora: LoRA?
    /// Width:height, e.g. 16:9.
    public var aspectRatio: AspectRatio?
}

/// One `examples` entry: an input request and the fields the optimized output must have.
public struct PresetExample: Sendable, Equatable {
    /// The example's name, in test reports.
    public var name: String
    /// The request, as JSON fields.
    public var input: [String: JSONValue]
    /// Expected output fields (`prompt`, `loras`, `width`, ...), plus optionally `decision` and `warnings` (codes).
    public var expect: [String: JSONValue]

    /// What `expect` may name: the optimized request's fields, `decision`, `warnings` and `error` (a code).
    static let expectable: Set<String> = Set(
        PromptRequest.Field.allCases.filter(\.isOutput).map(\.rawValue) + ["decision", "warnings", "error"])
}
