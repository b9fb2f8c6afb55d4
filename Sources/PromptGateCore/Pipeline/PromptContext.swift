/// Everything a stage sees about one request: the request (which optimizers may rewrite), its normalized
/// views (built lazily, at most once per text), the verdict so far and the per-stage trace.
///
/// Owned by the task running the request; stages receive it by reference and mutate it in place.
public final class PromptContext {
    /// The request, as the stages have rewritten it so far.
    public var request: PromptRequest
    /// The decision and its reasons so far.
    public var verdict = Verdict()
    /// What each stage did, in order.
    public var trace: [TraceEntry] = []
    /// Who is calling, as the front end's access step decided it (anonymous for the Unix filter).
    public let caller: Caller
    /// Warnings that do not change the decision (e.g. a negative prompt the model ignores).
    public var warnings: [Warning] = []
    /// Index in `trace` of the stage running now (set by the pipeline), for `note(_:)`.
    var currentTraceSlot: Int?
    /// Views of the prompt and the negative prompt (two slots, no hashing on the hot path).
    private var normalized: (prompt: NormalizedText?, negative: NormalizedText?)
    /// Phrase lookups on the prompt, kept while the prompt is unchanged (optimizers share it).
    private var promptPhrases: (prompt: String, haystack: PhraseList.Haystack)?

    /// - Parameters:
    ///   - request: the request to judge and optimize.
    ///   - caller: who sent it.
    ///   - trace: entries already recorded by the front end (its access steps), before the pipeline's own.
    public init(request: PromptRequest, caller: Caller = Caller(), trace: [TraceEntry] = []) {
        self.request = request
        self.caller = caller
        self.trace = trace
        self.trace.reserveCapacity(trace.count + 12)
    }

    /// Whether stages write notes into the trace. Front ends that do not show the trace turn it off, and
    /// the note text is then never built.
    public var recordsNotes = true

    /// Records what the running stage changed, in its trace entry ("added quality words: 8k").
    public func note(_ text: @autoclosure () -> String) {
        guard recordsNotes, let slot = currentTraceSlot, trace.indices.contains(slot) else { return }
        trace[slot].notes.append(text())
    }

    /// The prompt prepared for phrase lookups; built once per prompt text.
    func promptHaystack() -> PhraseList.Haystack {
        if let cached = promptPhrases, cached.prompt == request.prompt { return cached.haystack }
        // The folded view is usually built already (the blocklist scanned the same prompt).
        let folded = text(.prompt).view(.folded)?.bytes ?? Array(request.prompt.utf8)
        let haystack = PhraseList.Haystack(folded: folded)
        promptPhrases = (request.prompt, haystack)
        return haystack
    }

    /// Appends the phrases the prompt lacks (see `PhraseList`) and returns what was added.
    func appendToPrompt(_ phrases: PhraseList) -> [String] {
        var haystack = promptHaystack()
        let (prompt, added) = phrases.append(to: request.prompt, haystack: &haystack)
        if !added.isEmpty { setPrompt(prompt, haystack: haystack) }
        return added
    }

    /// Replaces the prompt with one whose phrase lookups are already known.
    func setPrompt(_ prompt: String, haystack: PhraseList.Haystack) {
        request.prompt = prompt
        promptPhrases = (prompt, haystack)
    }

    /// The normalized views of a field. Rebuilt only when the field's text changed since the last call.
    public func text(_ field: PromptField) -> NormalizedText {
        let current = request[field]
        let cached = field == .prompt ? normalized.prompt : normalized.negative
        if let cached, cached.original == current { return cached }
        let built = NormalizedText(current)
        if field == .prompt { normalized.prompt = built } else { normalized.negative = built }
        return built
    }
}
