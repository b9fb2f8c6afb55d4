/// Appends the preset's quality words that the prompt lacks ("8K" counts for "8k", "超高清" for "高清").
public struct QualityStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "quality"
    private let words: PhraseList

    /// A stage adding `preset`'s quality words.
    public init(preset: Preset) { words = PhraseList(preset.qualityWords) }

    /// Appends the quality words the prompt lacks, then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        let added = context.appendToPrompt(words)
        if !added.isEmpty { context.note("added \(added.joined(separator: ", "))") }
        try next(context)
    }
}
