/// An error a user can cause, with a stable machine-readable code. Front ends render every conforming
/// error the same way: HTTP as `{"error": {"code", "message", "details"}}` with `httpStatus`, the CLI as a
/// message on stderr (or an error record) and a non-zero exit.
public protocol PromptGateError: Error, CustomStringConvertible, Sendable {
    /// Stable code, e.g. `rules.invalid`.
    var code: String { get }
    /// The HTTP status this error maps to.
    var httpStatus: Int { get }
    /// One human sentence (or a few lines) saying what is wrong and where.
    var message: String { get }
    /// Headers the HTTP answer needs (`Retry-After`, `WWW-Authenticate`); none by default.
    var responseHeaders: [(name: String, value: String)] { get }
}

extension PromptGateError {
    public var description: String { message }
    public var responseHeaders: [(name: String, value: String)] { [] }
}

/// One problem found while loading a file: where it is and what is wrong.
public struct LoadProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file (or resource name) the problem is in.
    public var file: String
    /// The rule id, when the problem is inside a rule.
    public var ruleID: String?
    /// Key path inside the file, e.g. `rules[3].pattern`.
    public var keyPath: String
    /// What is wrong.
    public var message: String

    public init(file: String, ruleID: String? = nil, keyPath: String, message: String) {
        self.file = file
        self.ruleID = ruleID
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var where_ = file
        if let ruleID { where_ += ": rule \(ruleID)" }
        if !keyPath.isEmpty { where_ += ": \(keyPath)" }
        return "\(where_): \(message)"
    }
}

/// A load that failed with a list of problems (rule packs, presets, configuration): nothing was loaded.
public protocol LoadProblemsError: PromptGateError {
    var problems: [LoadProblem] { get }
    /// What did not load ("rule packs", "presets", "configuration").
    static var subject: String { get }
}

extension LoadProblemsError {
    public var httpStatus: Int { 500 }
    public var message: String {
        "\(Self.subject) did not load (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
            + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// Loading rule packs failed; nothing was loaded. Lists every problem found, not only the first.
public struct RuleLoadError: LoadProblemsError, Equatable {
    public var problems: [LoadProblem]
    public var code: String { "rules.invalid" }
    public static let subject = "rule packs"

    public init(problems: [LoadProblem]) { self.problems = problems }
}
