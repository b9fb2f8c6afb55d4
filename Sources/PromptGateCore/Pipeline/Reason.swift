/// Where a reason points in the original text, in both units: Unicode scalars (what Python and most
/// tools count) and UTF-8 bytes (what PCRE2 and byte-oriented tools count). Ends are exclusive.
public struct Span: Sendable, Equatable, Codable {
    /// In Unicode scalars.
    public var scalars: Offsets
    /// In UTF-8 bytes.
    public var utf8: Offsets

    /// A start and an exclusive end.
    public struct Offsets: Sendable, Equatable, Codable {
        /// First unit of the span.
        public var start: Int
        /// First unit after the span.
        public var end: Int
        /// Offsets `start..<end`.
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }

    /// A span from both ranges.
    public init(scalars: Range<Int>, utf8: Range<Int>) {
        self.scalars = Offsets(start: scalars.lowerBound, end: scalars.upperBound)
        self.utf8 = Offsets(start: utf8.lowerBound, end: utf8.upperBound)
    }
}

/// Why a stage blocked or flagged a request: which rule, where, and what it saw.
public struct Reason: Sendable, Equatable, Codable {
    /// The stage that produced it (`length`, `blocklist`, ...).
    public var stage: String
    /// The rule id, or a stage-level code such as `length.too_long` or `policy.engine_error`.
    public var ruleID: String
    /// The rule's category.
    public var category: String
    /// The rule's severity.
    public var severity: Severity
    /// Block or flag.
    public var action: RuleAction
    /// The request field the reason is about.
    public var field: PromptField?
    /// The span in the original text of `field`.
    public var span: Span?
    /// The normalized view that matched.
    public var view: ViewKind?
    /// The original text of the span.
    public var matched: String?
    /// What the rule saw in its view (e.g. `murder` for `m.u.r.d.e.r`).
    public var normalized: String?
    /// A human sentence for stage-level reasons.
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case stage, ruleID = "rule_id", category, severity, action, field, span, view, matched, normalized, message
    }

    /// A reason; the optional parts are left out of the JSON when nil.
    public init(
        stage: String, ruleID: String, category: String, severity: Severity, action: RuleAction,
        field: PromptField? = nil, span: Span? = nil, view: ViewKind? = nil, matched: String? = nil,
        normalized: String? = nil, message: String? = nil
    ) {
        self.stage = stage
        self.ruleID = ruleID
        self.category = category
        self.severity = severity
        self.action = action
        self.field = field
        self.span = span
        self.view = view
        self.matched = matched
        self.normalized = normalized
        self.message = message
    }
}
