import Dispatch
import PromptGateCore

/// Refuses requests whose client address is outside the allowlist (403). The front end resolves the client
/// address (`ClientAddress.resolve`) into `request.ip`; an address that is missing or does not parse is
/// refused whenever an allowlist is configured.
public struct IPAllowStage: Stage {
    public let name = "ip_allow"
    public let allowed: CIDRSet

    public init(allowed: CIDRSet) { self.allowed = allowed }

    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        guard !allowed.isEmpty else { return try next(context) }
        guard let text = context.request.ip, let address = IPAddress(text) else {
            throw AccessError.forbidden("the client address could not be determined (\(context.request.ip ?? "none"))")
        }
        guard allowed.contains(address) else { throw AccessError.forbidden("client address \(address) is not allowed") }
        try next(context)
    }
}

/// Requires a known API key (`Authorization: Bearer <key>` or `X-API-Key`, put in `request.apiKey` by the
/// front end) and records the caller: its name, preset and admin right. 401 with `WWW-Authenticate: Bearer`.
public struct APIKeyStage: Stage {
    public let name = "api_key"
    public let store: APIKeyStore

    public init(store: APIKeyStore) { self.store = store }

    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        guard let presented = context.request.apiKey else {
            throw AccessError.unauthorized("auth.missing_key", "an API key is required (Authorization: Bearer <key> or X-API-Key)")
        }
        guard let key = store.authenticate(presented) else {
            throw AccessError.unauthorized("auth.invalid_key", "the API key is not valid")
        }
        context.caller = Caller(name: key.name, preset: key.preset, isAdmin: key.isAdmin)
        if context.request.preset == nil { context.request.preset = key.preset }
        try next(context)
    }
}

/// GCRA rate limit per caller (per client address when no key is used). Every request gets its bucket
/// state in `context.rateLimit` for the `RateLimit-Policy` / `RateLimit` headers; a refused one is a 429 with
/// `Retry-After`.
public struct RateLimitStage: Stage {
    public let name = "rate_limit"
    public let limiter: RateLimiter
    public let policy: RateLimitPolicy
    /// Per-key policies by caller name.
    public let policies: [String: RateLimitPolicy]
    let clock: @Sendable () -> UInt64

    public init(
        limiter: RateLimiter, policy: RateLimitPolicy, policies: [String: RateLimitPolicy] = [:],
        clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
    ) {
        self.limiter = limiter
        self.policy = policy
        self.policies = policies
        self.clock = clock
    }

    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        let key: String
        var policy = self.policy
        if let caller = context.caller {
            key = "key:" + caller.name
            policy = policies[caller.name] ?? policy
        } else {
            key = "ip:" + (context.request.ip ?? "unknown")
        }
        let decision = limiter.check(key: key, policy: policy, now: clock())
        let window = Self.seconds(policy.tolerance)
        var status = RateLimitStatus(
            policy: "default", quota: policy.burst + 1, window: window, remaining: decision.remaining,
            reset: Self.seconds(decision.resetAfter))
        if !decision.allowed {
            let retry = max(1, Self.seconds(decision.retryAfter))
            status.retryAfter = retry
            context.rateLimit = status
            throw AccessError(
                code: "rate_limited", httpStatus: 429,
                message: "rate limit exceeded: \(policy.requestsPerMinute) requests per minute, burst \(policy.burst); retry in \(retry) s",
                headers: [("Retry-After", String(retry))])
        }
        context.rateLimit = status
        try next(context)
    }

    /// Whole seconds, rounded up (a client told 0 would retry at once).
    static func seconds(_ nanoseconds: UInt64) -> Int { Int((nanoseconds + 999_999_999) / 1_000_000_000) }
}
