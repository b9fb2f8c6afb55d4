/// How bad a rule's subject is.
public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case low, medium, high

    private var rank: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .high: 2
        }
    }

    /// Orders by rank (low < medium < high < critical).
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// What a rule hit does: `block` refuses the prompt, `flag` lets it through with the reason recorded.
public enum RuleAction: String, Sendable, Codable, CaseIterable {
    case block, flag
}

/// One blocklist rule as written in a rule pack (`rules/*.yaml`), validated but not compiled.
public struct RuleDefinition: Sendable, Equatable {
    /// Unique across every loaded pack.
    public var id: String
    /// The category reported with a hit (`violence`, `brand`, ...).
    public var category: String
    /// How serious a hit is.
    public var severity: Severity
    /// What a hit does: block or flag.
    public var action: RuleAction
    /// Literal terms (compiled into one trie-factored alternation per view), or empty when `pattern` is set.
    public var terms: [String]
    /// A PCRE2 pattern (UTF, UCP, caseless), or nil when `terms` is set.
    public var pattern: String?
    /// The views the rule runs on. Default: every view for terms, `folded` for patterns.
    public var views: [ViewKind]
    /// The fields the rule looks at. Default: `prompt` only, because negative prompts list what to avoid
    /// ("nsfw, nude, gore") and blocking them would refuse ordinary requests.
    public var fields: [PromptField]
    /// PCRE2 patterns; a hit lying inside a match of one of them is dropped ("blood pressure").
    public var exceptions: [String]
    /// Inputs that must hit this rule.
    public var matchExamples: [String]
    /// Inputs that must not hit this rule (nor be blocked by any other loaded rule).
    public var allowExamples: [String]
    /// What the rule is for, for people reading the pack.
    public var description: String?
    /// The pack file the rule came from.
    public var source: String

    /// A rule as a pack file declares it.
    public init(
        id: String, category: String, severity: Severity = .medium, action: RuleAction = .block,
        terms: [String] = [], pattern: String? = nil, views: [ViewKind]? = nil,
        fields: [PromptField] = [.prompt], exceptions: [String] = [], matchExamples: [String] = [],
        allowExamples: [String] = [], description: String? = nil, source: String = "<inline>"
    ) {
        self.id = id
        self.category = category
        self.severity = severity
        self.action = action
        self.terms = terms
        self.pattern = pattern
        self.views = views ?? (pattern == nil ? ViewKind.allCases : [.folded])
        self.fields = fields
        self.exceptions = exceptions
        self.matchExamples = matchExamples
        self.allowExamples = allowExamples
        self.description = description
        self.source = source
    }
}
