import Dispatch
import PromptGateCore

/// Who may call, decided once per request before anything reads its body: the IP allowlist, the API key,
/// the rate limit. Built from configuration (build, then freeze); the front end presents what it saw (the
/// client address, the key) and gets back a `Caller`, or an `AccessError`.
public struct AccessControl: Sendable {
    /// How much a route demands.
    public enum Level: Sendable, Equatable {
        /// New work (moderate, generate): address, key, rate limit.
        case submit
        /// Reading what one submitted (tasks, images): address and key, no rate limit, so polling does not
        /// use up the budget for new prompts.
        case read
        /// Administration: address and an admin key, which is required even when keys are off.
        case admin
        /// Operations (status): the address; a presented key is checked (an admin key sees the details).
        case operations
        /// Metrics: the address, plus the metrics key or an admin key when a metrics key is configured.
        case metrics
    }

    /// Addresses allowed in; empty allows every address.
    public let allowlist: CIDRSet
    /// The configured keys.
    public let keys: APIKeyStore
    /// Whether every caller needs a key (`security.enabled`).
    public let requiresKey: Bool
    /// The shared limiter; nil turns rate limits off.
    public let limiter: RateLimiter?
    /// The limit for callers whose key has none of its own (and for callers without keys, per address).
    public let policy: RateLimitPolicy
    /// IPv6 callers without a key are limited per block of this many bits (a /64 is one subscriber's).
    public let ipv6Prefix: Int
    /// The key that may read `/metrics` (and nothing else); nil: metrics need no key.
    public let metricsKey: APIKey?
    /// Failed key checks per client address; nil: not limited.
    public let authFailures: RateLimiter?
    /// How many wrong keys an address may present; past it every key it presents is refused with 429
    /// `auth.too_many_failures` until the bucket refills, so keys cannot be guessed at speed.
    public static let authFailurePolicy = RateLimitPolicy(requestsPerMinute: 10, burst: 9)
    /// Whether the rate-limit state is shared by several gateways (`countShared`): `admit` then only looks at
    /// the local bucket.
    public let sharesLimits: Bool
    /// Keys' own limits by key name, built once (no scan of the key list per request).
    let policies: [String: RateLimitPolicy]
    let clock: @Sendable () -> UInt64

    /// - Parameters:
    ///   - allowlist: addresses allowed in (empty: all).
    ///   - keys: the configured keys.
    ///   - requiresKey: whether every caller needs a key.
    ///   - limiter: the limiter state (shared across reloads); nil for no rate limit.
    ///   - policy: the default rate limit.
    ///   - ipv6Prefix: the block size IPv6 addresses are limited by.
    ///   - authFailures: the state of failed key checks per address (shared across reloads); nil: not limited.
    ///   - metricsKey: the key that may read metrics; nil: metrics need none.
    ///   - sharesLimits: whether `countShared` counts requests in a state several gateways share.
    ///   - clock: nanoseconds on any monotonic origin (tests pass their own).
    public init(
        allowlist: CIDRSet = CIDRSet([]), keys: APIKeyStore = APIKeyStore(keys: []), requiresKey: Bool = false,
        limiter: RateLimiter? = nil, policy: RateLimitPolicy = RateLimitPolicy.defaultPolicy,
        ipv6Prefix: Int = 64, authFailures: RateLimiter? = nil, metricsKey: APIKey? = nil, sharesLimits: Bool = false,
        clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
    ) {
        self.allowlist = allowlist
        self.keys = keys
        self.requiresKey = requiresKey
        self.limiter = limiter
        self.policy = policy
        self.ipv6Prefix = ipv6Prefix
        self.authFailures = authFailures
        self.metricsKey = metricsKey
        self.sharesLimits = sharesLimits
        policies = Dictionary(
            keys.keys.compactMap { key in key.rateLimit.map { (key.name, $0) } },
            uniquingKeysWith: { first, _ in first })
        self.clock = clock
    }

    /// Decides one request.
    /// - Parameters:
    ///   - address: the client address the front end resolved (nil or unparsable: refused when an
    ///     allowlist is set).
    ///   - presentedKey: the key from `Authorization: Bearer` or `X-API-Key`, if any.
    ///   - level: what the route demands.
    ///   - trace: receives one entry per check that ran (`ip_allow`, `api_key`, `rate_limit`).
    /// - Returns: the caller, with its key's name, preset and rate-limit state.
    /// - Throws: `AccessError`: 403 `access.ip_not_allowed`, 401 `auth.missing_key`/`auth.invalid_key`,
    ///   403 `auth.not_admin`, 429 `auth.too_many_failures` (too many wrong keys from the address),
    ///   429 `rate_limited` (with the bucket's state).
    public func admit(
        address: String?, presentedKey: String?, level: Level, trace: inout [TraceEntry]
    ) throws(AccessError) -> Caller {
        var caller = Caller(address: address)
        if !allowlist.isEmpty {
            try timed("ip_allow", &trace) { () throws(AccessError) in try checkAddress(address) }
        }
        let needsKey: Bool
        switch level {
        case .submit, .read: needsKey = requiresKey
        case .admin: needsKey = true
        case .operations: needsKey = presentedKey != nil  // optional: a key only adds what its caller may see
        case .metrics: needsKey = metricsKey != nil
        }
        if needsKey {
            try timed("api_key", &trace) { () throws(AccessError) in
                let key = try authenticateLimited(presentedKey, level: level, address: address)
                caller.keyName = key.name
                caller.preset = key.preset
                caller.isAdmin = key.isAdmin
            }
        }
        if level == .submit, let limiter {
            try timed("rate_limit", &trace) { () throws(AccessError) in
                caller.rateLimit = try limit(caller, limiter: limiter)
            }
        }
        return caller
    }

    private func checkAddress(_ address: String?) throws(AccessError) {
        guard let text = address, let parsed = IPAddress(text) else {
            throw .forbidden("the client address could not be determined (\(address ?? "none"))")
        }
        guard allowlist.contains(parsed) else { throw .forbidden("client address \(parsed) is not allowed") }
    }

    /// `authenticate`, with wrong keys counted per address: once the address has used up its failures, every
    /// key it presents is refused before it is even compared.
    private func authenticateLimited(_ presented: String?, level: Level, address: String?) throws(AccessError)
        -> APIKey
    {
        guard let authFailures, presented != nil else { return try authenticate(presented, level: level) }
        let bucket = "auth:" + addressBucket(address)
        let policy = Self.authFailurePolicy
        let state = authFailures.peek(key: bucket, policy: policy, now: clock())
        if !state.allowed { throw Self.tooManyFailures(state, policy) }
        do {
            return try authenticate(presented, level: level)
        } catch {
            let counted = authFailures.check(key: bucket, policy: policy, now: clock())
            if !counted.allowed { throw Self.tooManyFailures(counted, policy) }
            throw error
        }
    }

    private static func tooManyFailures(_ decision: RateLimitDecision, _ policy: RateLimitPolicy) -> AccessError {
        let status = Self.status("auth_failures", policy, decision)
        let retry = status.retryAfter ?? 1
        return AccessError(
            code: "auth.too_many_failures", kind: .rateLimited,
            message:
                "too many wrong API keys from this address (\(policy.burst + 1) at once, then \(policy.requestsPerMinute) a minute); retry in \(retry) s",
            rateLimit: status)
    }

    /// The per-address bucket: the address itself for IPv4, its `ipv6Prefix` block for IPv6.
    func addressBucket(_ address: String?) -> String {
        guard let text = address, let ip = IPAddress(text) else { return address ?? "unknown" }
        guard case .v6 = ip, ipv6Prefix < 128 else { return ip.description }
        return CIDR(containing: ip, prefix: ipv6Prefix).description
    }

    /// The key `presented` is, as `level` demands it: any key, an admin key, or (metrics) the metrics key or an
    /// admin key.
    private func authenticate(_ presented: String?, level: Level) throws(AccessError) -> APIKey {
        guard let presented else {
            let needed =
                switch level {
                case .admin: "an admin API key is required"
                case .metrics: "the metrics key (security.metrics_key) or an admin API key is required"
                default: "an API key is required (Authorization: Bearer <key> or X-API-Key)"
                }
            throw .unauthorized("auth.missing_key", needed)
        }
        if level == .metrics, let metricsKey, APIKeyStore(keys: [metricsKey]).authenticate(presented) != nil {
            return metricsKey
        }
        guard let key = keys.authenticate(presented) else {
            throw .unauthorized("auth.invalid_key", "the API key is not valid")
        }
        if level == .admin || level == .metrics, !key.isAdmin { throw .notAdmin(key.name) }
        return key
    }

    /// GCRA per key name (per address without keys); the answer's state goes into the caller either way. With
    /// `sharesLimits`, the local bucket is only looked at here (`countShared` counts).
    private func limit(_ caller: Caller, limiter: RateLimiter) throws(AccessError) -> RateLimitStatus {
        let (bucket, policy) = rateBucket(caller)
        let decision =
            sharesLimits
            ? limiter.peek(key: bucket, policy: policy, now: clock())
            : limiter.check(key: bucket, policy: policy, now: clock())
        return try outcome(decision, policy: policy, bucket: bucket)
    }

    /// The caller's bucket (its key's name, else its address) and the policy that applies to it.
    func rateBucket(_ caller: Caller) -> (String, RateLimitPolicy) {
        if let name = caller.keyName { return ("key:" + name, policies[name] ?? policy) }
        return ("ip:" + addressBucket(caller.address), policy)
    }

    /// The RateLimit state of a decision, or 429 `rate_limited` when it refused: the message and `details` say
    /// whose limit it was (the key's or the address's), what it allows, where it is configured and when to retry.
    func outcome(_ decision: RateLimitDecision, policy: RateLimitPolicy, bucket: String) throws(AccessError)
        -> RateLimitStatus
    {
        let status = Self.status("default", policy, decision)
        guard decision.allowed else {
            let retry = status.retryAfter ?? 1
            let isKey = bucket.hasPrefix("key:")
            let owner = String(bucket.drop(while: { $0 != ":" }).dropFirst())
            let setting =
                isKey && policies[owner] != nil
                ? "security.api_keys[name: \(owner)].rate_limit" : "security.rate_limit"
            let whose = isKey ? "API key '\(owner)'" : "address \(owner)"
            throw AccessError(
                code: "rate_limited", kind: .rateLimited,
                message:
                    "rate limit of \(whose) exceeded: \(policy.requestsPerMinute) requests a minute, "
                    + "\(policy.burst + 1) at once (\(setting): requests_per_minute \(policy.requestsPerMinute), "
                    + "burst_limit \(policy.burst)); retry in \(retry) s",
                rateLimit: status,
                details: [
                    "limit": .string(isKey ? "key" : "address"), "bucket": .string(owner),
                    "requests_per_minute": .number(Double(policy.requestsPerMinute)),
                    "burst_limit": .number(Double(policy.burst)), "setting": .string(setting),
                    "retry_after_seconds": .number(Double(retry)),
                ])
        }
        return status
    }

    /// A bucket's state for the RateLimit headers; a refused request carries its `retryAfter` (at least 1 s).
    private static func status(_ name: String, _ policy: RateLimitPolicy, _ decision: RateLimitDecision)
        -> RateLimitStatus
    {
        var status = RateLimitStatus(
            policy: name, quota: policy.burst + 1, window: seconds(policy.tolerance), remaining: decision.remaining,
            reset: seconds(decision.resetAfter))
        if !decision.allowed { status.retryAfter = max(1, seconds(decision.retryAfter)) }
        return status
    }

    /// Runs one check and records its time; a check that throws is recorded as not passed.
    private func timed(_ name: String, _ trace: inout [TraceEntry], _ check: () throws(AccessError) -> Void)
        throws(AccessError)
    {
        let start = DispatchTime.now().uptimeNanoseconds
        var entry = TraceEntry(stage: name, nanoseconds: 0, passed: false)
        defer {
            entry.nanoseconds = Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- start)
            trace.append(entry)
        }
        try check()
        entry.passed = true
    }

    /// Whole seconds, rounded up (a client told 0 would retry at once).
    static func seconds(_ nanoseconds: UInt64) -> Int { Int((nanoseconds + 999_999_999) / 1_000_000_000) }
}
