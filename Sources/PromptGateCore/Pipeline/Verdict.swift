/// The pipeline's answer for one request.
public enum Decision: String, Sendable, Codable {
    /// Nothing matched a rule.
    case allow
    /// A `flag` rule matched: the request goes through, the reasons are recorded.
    case flag
    /// A stage refused the request.
    case block
}

/// The decision so far and every reason behind it.
public struct Verdict: Sendable, Equatable, Codable {
    /// The strongest decision so far (block beats flag beats allow).
    public private(set) var decision: Decision = .allow
    /// Every reason recorded, in order.
    public private(set) var reasons: [Reason] = []

    /// An allow with no reasons.
    public init() {}

    /// Records a reason; a `block` reason makes the decision `block`, a `flag` one at least `flag`.
    public mutating func add(_ reason: Reason) {
        reasons.append(reason)
        switch reason.action {
        case .block: decision = .block
        case .flag: if decision == .allow { decision = .flag }
        }
    }

    /// Whether the request is refused.
    public var isBlocked: Bool { decision == .block }
}
