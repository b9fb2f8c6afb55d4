/// The configuration did not load; lists every problem.
public struct ConfigError: LoadProblemsError {
    public var problems: [LoadProblem]

    /// - Parameter problems: every problem found.
    public init(problems: [LoadProblem]) { self.problems = problems }
    public var code: String { "config.invalid" }
    public static let subject = "configuration"
}
