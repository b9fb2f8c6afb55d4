import PromptGateCore
/// Counts of what a filter run saw.
public struct FilterStats: Sendable, Equatable {
    /// Lines read.
    public var lines = 0
    /// Lines allowed.
    public var allowed = 0
    /// Lines flagged.
    public var flagged = 0
    /// Lines blocked.
    public var blocked = 0
    /// Lines that could not be read.
    public var errors = 0
    /// All zero.
    public init() {}
}
