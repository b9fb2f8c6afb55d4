/// Appends the words of the request's style (or the preset's default style), each at most once.
public struct StyleStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "style"
    /// The preset whose styles it applies.
    public let preset: Preset
    private let styles: [String: PhraseList]

    /// A stage for `preset`.
    public init(preset: Preset) {
        self.preset = preset
        styles = preset.styles.mapValues(PhraseList.init)
    }

    /// Appends the words of the requested (or default) style, then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        guard let style = context.request.style ?? preset.defaultStyle else { return try next(context) }
        guard let words = styles[style] else {
            throw RequestError.unknownName("style", style, known: Array(preset.styles.keys))
        }
        let added = context.appendToPrompt(words)
        if !added.isEmpty { context.note("style '\(style)': added \(added.joined(separator: ", "))") }
        try next(context)
    }
}
