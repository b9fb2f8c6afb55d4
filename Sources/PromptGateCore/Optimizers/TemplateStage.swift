import Foundation

/// Applies the request's product template: the template's text around the prompt (`{prompt}` marks the
/// place; without it the text goes in front), its style LoRA, and its aspect ratio turned into a valid
/// size within the preset's pixel budget when the request gives no size. Idempotent: a prefix already in
/// front of the prompt and phrases already present are not added again.
public struct TemplateStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "template"
    /// The preset whose product templates it applies.
    public let preset: Preset
    private let compiled: [String: Compiled]

    struct Compiled: Sendable {
        /// Text before `{prompt}`, as written.
        let prefix: String
        let prefixKey: [UInt8]
        /// Phrases after `{prompt}`.
        let suffix: PhraseList
    }

    /// A stage for `preset`.
    public init(preset: Preset) {
        self.preset = preset
        var compiled: [String: Compiled] = [:]
        for (name, template) in preset.templates {
            let parts = template.prompt.components(separatedBy: "{prompt}")
            var prefix = parts.count > 1 ? parts[0] : template.prompt
            if parts.count == 1 {
                prefix = PhraseList.joined(prefix, [""])
            }
            let suffix = parts.count > 1 ? parts[1] : ""
            let phrases = suffix.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            compiled[name] = Compiled(
                prefix: prefix, prefixKey: PhraseList.key(of: prefix).spaced, suffix: PhraseList(phrases))
        }
        self.compiled = compiled
    }

    /// Wraps the prompt in the requested template (its LoRA and aspect ratio too), then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        guard let name = context.request.template else { return try next(context) }
        guard let template = preset.templates[name], let parts = compiled[name] else {
            throw RequestError.unknownName("template", name, known: Array(preset.templates.keys))
        }
        var prompt = context.request.prompt
        var haystack = context.promptHaystack()
        if parts.prefixKey.count > 1, !haystack.spaced.starts(with: parts.prefixKey) {
            prompt = parts.prefix + prompt
            haystack = PhraseList.Haystack(prompt)
            context.note("template '\(name)': prefix added")
        }
        let (withSuffix, added) = parts.suffix.append(to: prompt, haystack: &haystack)
        if !added.isEmpty { context.note("template '\(name)': added \(added.joined(separator: ", "))") }
        context.setPrompt(withSuffix, haystack: haystack)
        if let lora = template.lora, !context.request.loras.contains(where: { $0.name == lora.name }) {
            context.request.loras.append(lora)
            context.note("template '\(name)': LoRA \(lora.summary)")
        }
        if let ratio = template.aspectRatio, context.request.width == nil, context.request.height == nil {
            let limits = preset.limits
            let area = min(preset.defaults.width * preset.defaults.height, limits.maxPixels)
            if let size = ratio.size(
                area: area, multiple: limits.multipleOf, width: limits.width, height: limits.height)
            {
                context.request.width = size.width
                context.request.height = size.height
                context.note("template '\(name)': \(ratio) → \(size.width)×\(size.height)")
            }
        }
        try next(context)
    }
}
