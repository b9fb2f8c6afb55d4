/// Time spent in one stage (excluding the stages after it) and whether it passed the request on.
public struct TraceEntry: Sendable, Equatable, Encodable {
    /// The stage's name (`blocklist`, `rate_limit`).
    public var stage: String
    /// Nanoseconds spent in this stage itself.
    public var nanoseconds: Int64
    /// False when the stage stopped the pipeline.
    public var passed: Bool
    /// What the stage changed, in words (optimizers fill it).
    public var notes: [String] = []

    /// - Parameters:
    ///   - stage: the stage's name.
    ///   - nanoseconds: time spent in it.
    ///   - passed: whether it passed the request on.
    public init(stage: String, nanoseconds: Int64, passed: Bool) {
        self.stage = stage
        self.nanoseconds = nanoseconds
        self.passed = passed
    }

    enum CodingKeys: String, CodingKey {
        case stage, nanoseconds, passed, notes
    }

    /// Writes only the members that are set.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stage, forKey: .stage)
        try container.encode(nanoseconds, forKey: .nanoseconds)
        try container.encode(passed, forKey: .passed)
        if !notes.isEmpty { try container.encode(notes, forKey: .notes) }
    }
}
