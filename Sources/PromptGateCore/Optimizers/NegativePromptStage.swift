/// Merges the preset's default negative phrases into the request's negative prompt. When the model cannot
/// use a negative prompt (guidance-distilled FLUX with a true CFG of 1, or cfg_scale ≤ 1), nothing is added,
/// and if the caller wrote a negative prompt a `negative_prompt.ignored` warning says it will have no effect.
public struct NegativePromptStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "negative"
    /// The preset whose negative terms it adds.
    public let preset: Preset
    private let defaults: PhraseList

    /// A stage for `preset`.
    public init(preset: Preset) {
        self.preset = preset
        defaults = PhraseList(preset.negativePrompt)
    }

    /// Adds the preset's negative terms the request lacks (or warns when the model ignores them), then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        let cfg = context.request.cfgScale ?? preset.defaults.cfgScale
        if preset.model.usesNegativePrompt(cfgScale: cfg) {
            let (negative, added) = defaults.append(to: context.request.negativePrompt)
            if !added.isEmpty {
                context.request.negativePrompt = negative
                context.note("added \(added.joined(separator: ", "))")
            }
        } else {
            // The preset's defaults are skipped silently (a trace note); a negative the caller wrote would be
            // ignored by the model, which they must be told.
            context.note("skipped: \(preset.model.name) ignores negative prompts at this guidance")
            if !context.request.negativePrompt.isEmpty {
                let why =
                    if !preset.model.hasNegativeInput {
                        "the workflow has no negative prompt input"
                    } else if preset.model.guidance == .flux {
                        "\(preset.model.name) is guidance-distilled and this workflow runs at a true CFG of \(LoRA.format(preset.model.trueCFG))"
                    } else {
                        "cfg_scale \(LoRA.format(cfg)) is at most 1"
                    }
                context.warnings.append(
                    Warning(code: "negative_prompt.ignored", message: "the negative prompt will have no effect: \(why)")
                )
            }
        }
        try next(context)
    }
}
