/// Who sent a request, as access decided it once before anything else ran: the client address, the API
/// key's name (never the key), the preset the key selects, whether it may use admin routes, and where it
/// stands in its rate limit. Front ends carry it in their per-request context; the pipeline sees it in
/// `PromptContext.caller`. A front end without access control (the Unix filter) uses `Caller()`.
public struct Caller: Sendable, Equatable {
    /// The client address (after trusted-proxy resolution), when the front end knows one.
    public var address: String?
    /// The name of the API key that authenticated the request; nil when keys are off.
    public var keyName: String?
    /// The preset the key selects, used when the request names none.
    public var preset: String?
    /// Whether the key may use admin routes.
    public var isAdmin: Bool
    /// The caller's rate-limit bucket after this request; nil when no limit applied.
    public var rateLimit: RateLimitStatus?

    /// - Parameters:
    ///   - address: the client address.
    ///   - keyName: the API key's name, when one authenticated the request.
    ///   - preset: the key's preset.
    ///   - isAdmin: whether the key is an admin key.
    ///   - rateLimit: the rate-limit state after this request.
    public init(
        address: String? = nil, keyName: String? = nil, preset: String? = nil, isAdmin: Bool = false,
        rateLimit: RateLimitStatus? = nil
    ) {
        self.address = address
        self.keyName = keyName
        self.preset = preset
        self.isAdmin = isAdmin
        self.rateLimit = rateLimit
    }
}

/// Where a request stands in its rate-limit bucket: a policy of `quota` requests per `window` seconds,
/// `remaining` requests now, and `reset` seconds until the bucket is full again (the terms of the IETF
/// RateLimit fields, which the HTTP server writes from it).
public struct RateLimitStatus: Sendable, Equatable {
    /// The policy's name (`default`).
    public var policy: String
    /// Requests the bucket holds when full.
    public var quota: Int
    /// Seconds the full quota spans.
    public var window: Int
    /// Requests that could still be made right now.
    public var remaining: Int
    /// Seconds until the bucket is full again.
    public var reset: Int
    /// Seconds until a refused request may be retried; nil when the request was allowed.
    public var retryAfter: Int?

    /// - Parameters: see the properties of the same names.
    public init(policy: String, quota: Int, window: Int, remaining: Int, reset: Int, retryAfter: Int? = nil) {
        self.policy = policy
        self.quota = quota
        self.window = window
        self.remaining = remaining
        self.reset = reset
        self.retryAfter = retryAfter
    }
}
