import PromptGateCore
/// Counts of what a filter run saw.
public struct FilterStats: Sendable, Equatable {
    public var lines = 0
    public var allowed = 0
    public var flagged = 0
    public var blocked = 0
    public var errors = 0
    public init() {}
}
