/// The authenticated caller of a request: a name for logs and metrics, the preset its key selects, and
/// whether it may use admin routes.
public struct Caller: Sendable, Equatable {
    public var name: String
    public var preset: String?
    public var isAdmin: Bool

    public init(name: String, preset: String? = nil, isAdmin: Bool = false) {
        self.name = name
        self.preset = preset
        self.isAdmin = isAdmin
    }
}

/// Where a request stands in its rate-limit bucket, in the terms of the IETF RateLimit header fields
/// (draft-ietf-httpapi-ratelimit-headers-11): a policy of `quota` requests per `window` seconds, `remaining`
/// requests now, and `reset` seconds until the bucket is full again.
public struct RateLimitStatus: Sendable, Equatable {
    public var policy: String
    public var quota: Int
    public var window: Int
    public var remaining: Int
    public var reset: Int
    /// Seconds until a refused request may be retried; nil when the request was allowed.
    public var retryAfter: Int?

    public init(policy: String, quota: Int, window: Int, remaining: Int, reset: Int, retryAfter: Int? = nil) {
        self.policy = policy
        self.quota = quota
        self.window = window
        self.remaining = remaining
        self.reset = reset
        self.retryAfter = retryAfter
    }

    /// `RateLimit-Policy: "default";q=11;w=11`
    public var policyHeader: String { "\"\(policy)\";q=\(quota);w=\(window)" }
    /// `RateLimit: "default";r=10;t=1`
    public var stateHeader: String { "\"\(policy)\";r=\(remaining);t=\(reset)" }
}
