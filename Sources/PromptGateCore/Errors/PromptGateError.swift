/// An error a user can cause, with a stable machine-readable code. Front ends render every conforming
/// error the same way: the HTTP server as `{"error": {"code", "message", "details"}}` with the status its
/// `kind` maps to, the CLI as a message on stderr (or an error record) and a non-zero exit. Nothing here
/// knows HTTP: statuses and headers are the server's business.
public protocol PromptGateError: Error, CustomStringConvertible, Sendable {
    /// Stable code, e.g. `rules.invalid`.
    var code: String { get }
    /// What sort of failure this is; front ends derive their status from it.
    var kind: ErrorKind { get }
    /// One human sentence (or a few lines) saying what is wrong and where.
    var message: String { get }
    /// Structured detail for machine readers (the field, the line, a verdict); none by default.
    var details: JSONValue? { get }
    /// Seconds after which the same call may succeed (rate limits, a full queue); none by default.
    var retryAfter: Int? { get }
}

extension PromptGateError {
    /// The message.
    public var description: String { message }
    /// None by default.
    public var details: JSONValue? { nil }
    /// None by default.
    public var retryAfter: Int? { nil }
}

/// The failure classes every front end understands, in the spirit of gRPC's status codes: the HTTP server
/// maps each to one status, the CLI to an exit code.
public enum ErrorKind: String, Sendable, CaseIterable {
    /// The input is not the format it claims (malformed JSON).
    case malformedInput
    /// The input is well-formed but a field is missing, of the wrong type, out of range or refused by policy.
    case invalidInput
    /// The input is larger than allowed.
    case tooLarge
    /// No credentials, or credentials that are not valid.
    case unauthenticated
    /// Known caller (or address) without the right.
    case forbidden
    /// The thing asked for does not exist (or is not visible to the caller).
    case notFound
    /// The thing exists but is in a state that refuses the call (a task that has already ended).
    case conflict
    /// Too many calls; `retryAfter` says when to come back.
    case rateLimited
    /// Capacity is exhausted or nothing can serve the call now; `retryAfter` may say when to come back.
    case unavailable
    /// Configuration, data or an internal invariant is broken; not the caller's fault.
    case `internal`
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

    /// - Parameters:
    ///   - file: the file or resource name.
    ///   - ruleID: the rule the problem is in, when there is one.
    ///   - keyPath: where in the file (`rules[3].pattern`); empty for the file as a whole.
    ///   - message: what is wrong.
    public init(file: String, ruleID: String? = nil, keyPath: String, message: String) {
        self.file = file
        self.ruleID = ruleID
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line:column: key: message`, the form editors jump to.
    public var description: String {
        var location = file
        if let ruleID { location += ": rule \(ruleID)" }
        if !keyPath.isEmpty { location += ": \(keyPath)" }
        return "\(location): \(message)"
    }
}

/// A load that failed with a list of problems (rule packs, presets, configuration): nothing was loaded.
public protocol LoadProblemsError: PromptGateError {
    /// Every problem found, not only the first.
    var problems: [LoadProblem] { get }
    /// What did not load ("rule packs", "presets", "configuration").
    static var subject: String { get }
}

extension LoadProblemsError {
    /// Load problems are the operator's to fix: internal to callers.
    public var kind: ErrorKind { .internal }
    /// The subject, then one problem a line.
    public var message: String {
        "\(Self.subject) did not load (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
            + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// Loading rule packs failed; nothing was loaded. Lists every problem found, not only the first.
public struct RuleLoadError: LoadProblemsError, Equatable {
    /// Every problem found, each naming its file, line and rule.
    public var problems: [LoadProblem]
    /// Always `rules.invalid`.
    public var code: String { "rules.invalid" }
    /// What the problems are about, for the message's first line.
    public static let subject = "rule packs"

    /// - Parameter problems: every problem found.
    public init(problems: [LoadProblem]) { self.problems = problems }
}
