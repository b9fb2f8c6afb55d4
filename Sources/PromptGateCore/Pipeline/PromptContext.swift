/// Everything a stage sees about one request: the request (which optimizers may rewrite), its normalized
/// views (built lazily, at most once per text), the verdict so far and the per-stage trace.
///
/// Owned by the task running the request; stages receive it by reference and mutate it in place.
public final class PromptContext {
    public var request: PromptRequest
    public var verdict = Verdict()
    public var trace: [TraceEntry] = []
    /// Warnings that do not change the decision (e.g. a negative prompt the model ignores).
    public var warnings: [String] = []
    private var normalized: [PromptField: NormalizedText] = [:]

    public init(request: PromptRequest) {
        self.request = request
        trace.reserveCapacity(4)
    }

    /// The normalized views of a field. Rebuilt only when the field's text changed since the last call.
    public func text(_ field: PromptField) -> NormalizedText {
        let current = request[field]
        if let cached = normalized[field], cached.original == current { return cached }
        let built = NormalizedText(current)
        normalized[field] = built
        return built
    }
}
