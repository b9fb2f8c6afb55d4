import PromptGateCore
import Foundation

/// One output record of `promptgate filter --output jsonl`: the line number, the caller's id, the decision,
/// the categories and reasons, with `--echo` the prompt and negative prompt as read, optionally the trace, then
/// the input's other fields carried through.
public struct VerdictRecord: Encodable {
    /// The 1-based input line.
    public var line: Int
    /// The input's `id`, echoed as given.
    public var id: JSONValue?
    /// `allow`, `flag`, `block` or `error`.
    public var decision: String
    /// The categories of the reasons, each once, in the order of the reasons (empty when none).
    public var categories: [String]
    /// Why, one entry per hit.
    public var reasons: [Reason]
    /// The prompt and negative prompt as read (`--echo`), so a blocked line can be reviewed without a join.
    public var echo: (prompt: String, negativePrompt: String)?
    /// What the optimizers warn about.
    public var warnings: [Warning]
    /// What each stage did (`--trace`).
    public var trace: [TraceEntry]?
    /// Why the line could not be read.
    public var error: ErrorBody?
    /// The optimized request, when optimizers ran and the prompt was let through.
    public var request: PromptRequest?
    /// The input's other fields, passed through.
    public var carried: [String: JSONValue]

    /// The `error` member of an error record.
    public struct ErrorBody: Encodable {
        /// Stable code.
        public var code: String
        /// A sentence naming the line and field.
        public var message: String
    }

    static let ownKeys: Set<String> = [
        "line", "id", "decision", "categories", "prompt", "negative_prompt", "reasons", "warnings", "trace", "error",
        "request",
    ]

    /// The record of a line that ran through the pipeline.
    public init(line: Int, context: PromptContext, includeTrace: Bool) {
        self.line = line
        id = context.request.id
        decision = context.verdict.decision.rawValue
        reasons = context.verdict.reasons
        var seen = Set<String>()
        categories = reasons.compactMap { seen.insert($0.category).inserted ? $0.category : nil }
        warnings = context.warnings
        trace = includeTrace ? context.trace : nil
        error = nil
        request = nil
        carried = context.request.params
    }

    /// The record of a line that could not be read.
    public init(error: InputLineError) {
        line = error.line
        id = nil
        decision = "error"
        categories = []
        reasons = []
        warnings = []
        trace = nil
        self.error = ErrorBody(code: error.code, message: error.message)
        request = nil
        carried = [:]
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Writes the record's own members, then the carried fields that do not collide with them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(line, forKey: Key("line"))
        if let id { try container.encode(id, forKey: Key("id")) }
        try container.encode(decision, forKey: Key("decision"))
        if let error {
            try container.encode(error, forKey: Key("error"))
            return
        }
        try container.encode(categories, forKey: Key("categories"))
        if let echo {
            try container.encode(echo.prompt, forKey: Key("prompt"))
            try container.encode(echo.negativePrompt, forKey: Key("negative_prompt"))
        }
        try container.encode(reasons, forKey: Key("reasons"))
        if !warnings.isEmpty { try container.encode(warnings, forKey: Key("warnings")) }
        if let trace { try container.encode(trace, forKey: Key("trace")) }
        if let request { try container.encode(request, forKey: Key("request")) }
        // Carried fields never overwrite ours.
        for key in carried.keys.sorted() where !Self.ownKeys.contains(key) {
            try container.encode(carried[key]!, forKey: Key(key))
        }
    }
}
