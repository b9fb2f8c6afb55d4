import Foundation

/// Loads presets from files and folders (or the bundled ones), resolves `extends`, and validates each
/// result. Every problem names the file and key path; any problem fails the whole load.
///
/// Inheritance: mappings (`defaults`, `limits`, `styles`, `templates`, `model`) merge key by key, the child
/// winning; lists (`quality_words`, `negative_prompt`, `optimizers`, `loras.*`) are replaced; brand `rules`
/// add up along the chain; `examples` belong to their own file only.
public enum PresetLoader {
    /// Loads the bundled presets plus every `.yaml` in `paths` (files or folders); a file from `paths`
    /// replaces a bundled preset of the same name. `defaults` (config.yaml's `default_params`) replace the
    /// bundled presets' `defaults` values; the operator's own files override them in turn.
    public static func load(paths: [String] = [], defaults: DefaultParams = DefaultParams()) throws(PresetLoadError)
        -> [String: Preset]
    {
        let (files, problems) = YAMLFiles.read(paths)
        if !problems.isEmpty { throw PresetLoadError(problems: problems) }
        return try parse(sources: files, bundled: BundledPresets.files, defaults: defaults)
    }

    /// Parses (file name, YAML text) pairs; a later file with the same preset name replaces an earlier one.
    /// `bundled` files come first, with `defaults` laid over their `defaults` values.
    public static func parse(
        sources: [(name: String, text: String)], bundled: [(name: String, text: String)] = [],
        defaults: DefaultParams = DefaultParams()
    ) throws(PresetLoadError) -> [String: Preset] {
        var problems: [LoadProblem] = []
        var specs: [String: PresetSpec] = [:]
        var overrides: [String: YAMLCursor] = [:]
        if !defaults.yaml.isEmpty {
            do {
                let root = try YAMLCursor.parse(defaults.yaml, file: "default_params")
                overrides = root?.mapping(allowed: nil, problems: &problems) ?? [:]
            } catch {
                problems += error.problems
            }
        }
        for (index, source) in (bundled + sources).enumerated() {
            let stem = ((source.name as NSString).lastPathComponent as NSString).deletingPathExtension
            guard var spec = PresetSpec.parse(source.text, file: source.name, defaultName: stem, problems: &problems)
            else { continue }
            if index < bundled.count { spec.defaults.merge(overrides) { $1 } }
            specs[spec.name] = spec
        }
        var presets: [String: Preset] = [:]
        for name in specs.keys.sorted() {
            guard let merged = resolve(name, specs: specs, seen: [], problems: &problems) else { continue }
            if let preset = validate(merged, problems: &problems) { presets[name] = preset }
        }
        if !problems.isEmpty { throw PresetLoadError(problems: problems) }
        return presets
    }

    private static func resolve(
        _ name: String, specs: [String: PresetSpec], seen: [String], problems: inout [LoadProblem]
    )
        -> PresetSpec?
    {
        guard let spec = specs[name] else { return nil }
        guard let parentName = spec.extends else { return spec.foldingAddedLoras() }
        if seen.contains(parentName) || parentName == name {
            problems.append(
                LoadProblem(
                    file: spec.file, keyPath: "extends",
                    message: "inheritance cycle: \((seen + [name, parentName]).joined(separator: " -> "))"))
            return nil
        }
        guard specs[parentName] != nil else {
            problems.append(
                LoadProblem(
                    file: spec.file, keyPath: "extends",
                    message:
                        "extends '\(parentName)', which is not loaded (presets: \(specs.keys.sorted().joined(separator: ", ")))"
                ))
            return nil
        }
        guard let parent = resolve(parentName, specs: specs, seen: seen + [name], problems: &problems) else {
            return nil
        }
        var merged = spec
        merged.description = spec.description ?? parent.description
        merged.modelName = spec.modelName ?? parent.modelName
        merged.guidance = spec.guidance ?? parent.guidance
        merged.trueCFG = spec.trueCFG ?? parent.trueCFG
        merged.defaults = parent.defaults.merging(spec.defaults) { $1 }
        merged.limits = parent.limits.merging(spec.limits) { $1 }
        merged.optimizers = spec.optimizers ?? parent.optimizers
        merged.qualityWords = spec.qualityWords ?? parent.qualityWords
        merged.styles = parent.styles.merging(spec.styles) { $1 }
        merged.defaultStyle = spec.defaultStyle ?? parent.defaultStyle
        merged.negativePrompt = spec.negativePrompt ?? parent.negativePrompt
        merged.availableLoras = spec.availableLoras ?? parent.availableLoras
        merged.baseLoras = spec.baseLoras ?? parent.baseLoras
        merged.loraRules = spec.loraRules ?? parent.loraRules
        merged.templates = parent.templates.merging(spec.templates) { $1 }
        merged.rules = parent.rules + spec.rules
        merged.extends = parentName
        return merged.foldingAddedLoras()
    }

    private static func validate(_ spec: PresetSpec, problems: inout [LoadProblem]) -> Preset? {
        let before = problems.count
        func problem(_ keyPath: String, _ message: String) {
            problems.append(LoadProblem(file: spec.file, keyPath: keyPath, message: message))
        }
        func requiredDefault<T>(_ key: String, _ read: (YAMLCursor) -> T?) -> T? {
            guard let cursor = spec.defaults[key] else {
                problem("defaults.\(key)", "is missing (set it here or in the preset this one extends)")
                return nil
            }
            return read(cursor)
        }
        func range<T: Comparable>(_ key: String, fallback: ClosedRange<T>, _ read: (YAMLCursor) -> T?) -> ClosedRange<T>
        {
            guard let cursor = spec.limits[key] else { return fallback }
            guard let bounds = cursor.mapping(allowed: ["min", "max"], problems: &problems) else { return fallback }
            let low = bounds["min"].flatMap(read) ?? fallback.lowerBound
            let high = bounds["max"].flatMap(read) ?? fallback.upperBound
            guard low <= high else {
                problem("limits.\(key)", "min is above max")
                return fallback
            }
            return low...high
        }
        let readInt: (YAMLCursor) -> Int? = { $0.int(problems: &problems) }
        let readDouble: (YAMLCursor) -> Double? = { $0.double(problems: &problems) }
        let readString: (YAMLCursor) -> String? = { $0.string(problems: &problems) }

        let limits = GenerationLimits(
            width: range("width", fallback: 256...2048, readInt),
            height: range("height", fallback: 256...2048, readInt),
            multipleOf: spec.limits["multiple_of"].flatMap(readInt) ?? 8,
            maxPixels: spec.limits["max_pixels"].flatMap(readInt) ?? 4_194_304,
            steps: range("steps", fallback: 1...150, readInt),
            cfgScale: range("cfg_scale", fallback: 0...30, readDouble),
            loraWeight: range("lora_weight", fallback: -10...10, readDouble),
            samplers: spec.limits["samplers"]?.strings(problems: &problems) ?? [],
            schedulers: spec.limits["schedulers"]?.strings(problems: &problems) ?? [])
        if limits.multipleOf < 1 { problem("limits.multiple_of", "must be at least 1") }
        let width = requiredDefault("width", readInt), height = requiredDefault("height", readInt)
        let steps = requiredDefault("steps", readInt), cfg = requiredDefault("cfg_scale", readDouble)
        let sampler = requiredDefault("sampler", readString), scheduler = requiredDefault("scheduler", readString)
        guard let width, let height, let steps, let cfg, let sampler, let scheduler, problems.count == before else {
            return nil
        }
        let defaults = GenerationDefaults(
            width: width, height: height, steps: steps, cfgScale: cfg, sampler: sampler, scheduler: scheduler)
        if let message = SizeCheck.problem(width: width, height: height, limits: limits) {
            problem("defaults", message)
        }
        if !limits.steps.contains(steps) {
            problem("defaults.steps", "\(steps) is outside limits.steps \(limits.steps)")
        }
        if !limits.cfgScale.contains(cfg) {
            problem("defaults.cfg_scale", "\(cfg) is outside limits.cfg_scale \(limits.cfgScale)")
        }
        if !limits.samplers.isEmpty && !limits.samplers.contains(sampler) {
            problem("defaults.sampler", "'\(sampler)' is not in limits.samplers")
        }
        if !limits.schedulers.isEmpty && !limits.schedulers.contains(scheduler) {
            problem("defaults.scheduler", "'\(scheduler)' is not in limits.schedulers")
        }
        let styles = spec.styles
        let defaultStyle = spec.defaultStyle ?? nil
        if let defaultStyle, styles[defaultStyle] == nil {
            problem(
                "default_style",
                "'\(defaultStyle)' is not one of styles (\(styles.keys.sorted().joined(separator: ", ")))")
        }
        let available = spec.availableLoras ?? [:]
        func checkLora(_ name: String, _ path: String) {
            if available[name] == nil {
                problem(
                    path,
                    "LoRA '\(name)' is not in loras.available (\(available.keys.sorted().joined(separator: ", ")))")
            }
        }
        /// A preset's own LoRA weights must be ones the clamp would keep (the clamp is for requests).
        func checkWeight(_ lora: LoRA, _ path: String) {
            if !limits.loraWeight.contains(lora.weight) {
                problem(
                    "\(path).weight",
                    "\(LoRA.format(lora.weight)) is outside limits.lora_weight "
                        + "\(LoRA.format(limits.loraWeight.lowerBound))…\(LoRA.format(limits.loraWeight.upperBound))")
            }
        }
        for (index, lora) in (spec.baseLoras ?? []).enumerated() {
            checkLora(lora.name, "loras.base[\(index)]")
            checkWeight(lora, "loras.base[\(index)]")
        }
        for (name, template) in spec.templates.sorted(by: { $0.key < $1.key }) {
            if let lora = template.lora {
                checkLora(lora.name, "templates.\(name).lora")
                checkWeight(lora, "templates.\(name).lora")
            }
        }
        for (index, rule) in (spec.loraRules ?? []).enumerated()
        where !available.keys.contains(where: rule.applies(to:)) {
            problem("loras.rules[\(index)].loras", "'\(rule.loras)' matches no LoRA in loras.available")
        }
        guard problems.count == before else { return nil }
        return Preset(
            name: spec.name, description: spec.description, parent: spec.extends,
            model: ModelProfile(
                name: spec.modelName ?? spec.name, guidance: spec.guidance ?? .cfg, trueCFG: spec.trueCFG ?? 1),
            defaults: defaults, limits: limits, optimizers: spec.optimizers ?? Preset.optimizerNames,
            qualityWords: spec.qualityWords ?? [], styles: styles, defaultStyle: defaultStyle,
            negativePrompt: spec.negativePrompt ?? [],
            loras: LoraSettings(available: available, base: spec.baseLoras ?? [], rules: spec.loraRules ?? []),
            templates: spec.templates, rules: spec.rules, examples: spec.examples, source: spec.file)
    }
}

/// Loading presets failed; nothing was loaded.
public struct PresetLoadError: LoadProblemsError, Equatable {
    /// Every problem found, each naming its file, line and key.
    public var problems: [LoadProblem]
    /// Always `presets.invalid`.
    public var code: String { "presets.invalid" }
    /// What the problems are about, for the message's first line.
    public static let subject = "presets"
}

/// Size rules shared by preset validation and request validation.
enum SizeCheck {
    /// What is wrong with a width × height under `limits`, or nil.
    static func problem(width: Int, height: Int, limits: GenerationLimits) -> String? {
        if !limits.width.contains(width) {
            return "width \(width) is outside \(limits.width.lowerBound)…\(limits.width.upperBound)"
        }
        if !limits.height.contains(height) {
            return "height \(height) is outside \(limits.height.lowerBound)…\(limits.height.upperBound)"
        }
        if width % limits.multipleOf != 0 || height % limits.multipleOf != 0 {
            return "\(width)×\(height) is not a multiple of \(limits.multipleOf)"
        }
        if width * height > limits.maxPixels {
            return "\(width)×\(height) = \(width * height) pixels is over the budget of \(limits.maxPixels)"
        }
        return nil
    }
}
