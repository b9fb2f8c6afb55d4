/// Time spent in one stage (excluding the stages after it) and whether it passed the request on.
public struct TraceEntry: Sendable, Equatable, Codable {
    public var stage: String
    /// Nanoseconds spent in this stage itself.
    public var nanoseconds: Int64
    /// False when the stage stopped the pipeline.
    public var passed: Bool
}
