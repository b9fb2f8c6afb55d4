/// Appends the words of the request's style (or the preset's default style), each at most once.
public struct StyleStage: Stage {
    public let name = "style"
    public let preset: Preset
    private let styles: [String: PhraseList]

    public init(preset: Preset) {
        self.preset = preset
        styles = preset.styles.mapValues(PhraseList.init)
    }

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
