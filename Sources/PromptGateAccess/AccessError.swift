import PromptGateCore

/// A request refused by access: unknown address, missing or wrong API key, not an admin key, over its rate
/// limit. Carries the caller's rate-limit state, so even a refusal can report where the bucket stands.
public struct AccessError: PromptGateError, Equatable {
    /// Stable code (`access.forbidden`, `auth.invalid_key`, `rate_limited`, ...).
    public var code: String
    /// The kind the server maps to an HTTP status.
    public var kind: ErrorKind
    /// A sentence for the caller.
    public var message: String
    /// The bucket after this request (set on a rate-limit refusal).
    public var rateLimit: RateLimitStatus?
    /// Seconds until the limiter lets the caller in again, for `Retry-After`.
    public var retryAfter: Int? { rateLimit?.retryAfter }
    /// Structured detail (a rate-limit refusal: whose limit, its rate and burst, its setting, the wait).
    public var details: JSONValue?

    /// - Parameters:
    ///   - code: the stable code (`access.ip_not_allowed`, `auth.missing_key`, …).
    ///   - kind: the failure class.
    ///   - message: what is wrong.
    ///   - rateLimit: the bucket's state, for a rate-limit refusal.
    ///   - details: structured detail for machine readers.
    public init(
        code: String, kind: ErrorKind, message: String, rateLimit: RateLimitStatus? = nil, details: JSONValue? = nil
    ) {
        self.code = code
        self.kind = kind
        self.message = message
        self.rateLimit = rateLimit
        self.details = details
    }

    /// The client address is outside the allowlist (or could not be determined).
    public static func forbidden(_ message: String) -> AccessError {
        AccessError(code: "access.ip_not_allowed", kind: .forbidden, message: message)
    }

    /// No key, or a key that is not valid (`auth.missing_key`, `auth.invalid_key`).
    public static func unauthorized(_ code: String, _ message: String) -> AccessError {
        AccessError(code: code, kind: .unauthenticated, message: message)
    }

    /// A valid key without the admin right.
    public static func notAdmin(_ name: String) -> AccessError {
        AccessError(code: "auth.not_admin", kind: .forbidden, message: "key '\(name)' is not an admin key")
    }
}
