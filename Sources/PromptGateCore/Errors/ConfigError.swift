/// The configuration did not load; lists every problem.
public struct ConfigError: LoadProblemsError {
    /// Every problem found, each naming its file, line and key.
    public var problems: [LoadProblem]

    /// - Parameter problems: every problem found.
    public init(problems: [LoadProblem]) { self.problems = problems }
    /// Always `config.invalid`.
    public var code: String { "config.invalid" }
    /// What the problems are about, for the message's first line.
    public static let subject = "configuration"
}
