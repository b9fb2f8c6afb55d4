import Synchronization

/// "N requests per minute with a burst of B".
public struct RateLimitPolicy: Sendable, Equatable {
    /// Sustained rate.
    public var requestsPerMinute: Int
    /// Requests allowed at once above the sustained rate.
    public var burst: Int

    /// A policy of `requestsPerMinute` with bursts of `burst`.
    public init(requestsPerMinute: Int, burst: Int) {
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
    }

    /// The limit per key (per address without keys) unless configured: 120 a minute, 51 at once, so a batch
    /// client submitting a few dozen prompts together is queued rather than refused.
    public static let defaultPolicy = RateLimitPolicy(requestsPerMinute: 120, burst: 50)

    /// Time between requests at the steady rate, in nanoseconds.
    var emissionInterval: UInt64 { 60_000_000_000 / UInt64(max(1, requestsPerMinute)) }
    /// How far ahead the theoretical arrival time may run: B + 1 requests at once.
    var tolerance: UInt64 { emissionInterval * UInt64(burst + 1) }
}

/// The answer for one request.
public struct RateLimitDecision: Sendable, Equatable {
    /// Whether this request is let through.
    public var allowed: Bool
    /// Requests that could still be made right now.
    public var remaining: Int
    /// Nanoseconds until the bucket is full again.
    public var resetAfter: UInt64
    /// Nanoseconds until this request would be allowed (0 when allowed).
    public var retryAfter: UInt64
}

/// GCRA (the generic cell rate algorithm, as in redis-cell): one timestamp per key, exact "rate + burst"
/// semantics, no background timer. Keys whose bucket is full again carry no information and are dropped,
/// so memory stays bounded by the number of keys active within one burst window (and by `maxKeys`).
public final class RateLimiter: Sendable {
    private struct State {
        var arrivals: [String: UInt64] = [:]
        var operations = 0
    }

    private let state = Mutex(State())
    /// Hard cap on tracked keys; past it, the oldest-expiring half is dropped (those keys briefly regain burst).
    public let maxKeys: Int

    /// A limiter tracking at most `maxKeys` callers at once.
    public init(maxKeys: Int = 100_000) { self.maxKeys = maxKeys }

    /// Counts one request for `key` at time `now` (nanoseconds, any monotonic origin).
    public func check(key: String, policy: RateLimitPolicy, now: UInt64) -> RateLimitDecision {
        decide(key: key, policy: policy, now: now, counting: true)
    }

    /// What `check` would answer now, without counting a request.
    public func peek(key: String, policy: RateLimitPolicy, now: UInt64) -> RateLimitDecision {
        decide(key: key, policy: policy, now: now, counting: false)
    }

    private func decide(key: String, policy: RateLimitPolicy, now: UInt64, counting: Bool) -> RateLimitDecision {
        let emission = policy.emissionInterval
        let tolerance = policy.tolerance
        return state.withLock { state in
            state.operations += 1
            if state.operations % 1024 == 0 || state.arrivals.count > maxKeys {
                Self.sweep(&state, now: now, maxKeys: maxKeys)
            }
            let arrival = max(state.arrivals[key] ?? now, now)
            let next = arrival + emission
            let allowAt = next > tolerance ? next - tolerance : 0
            if now < allowAt {
                let pending = arrival - now
                return RateLimitDecision(
                    allowed: false, remaining: 0, resetAfter: pending, retryAfter: allowAt - now)
            }
            if counting { state.arrivals[key] = next }
            let pending = next - now
            let remaining = Int((tolerance - min(tolerance, pending)) / emission)
            return RateLimitDecision(allowed: true, remaining: remaining, resetAfter: pending, retryAfter: 0)
        }
    }

    /// Number of keys tracked now (for tests and metrics).
    public var trackedKeys: Int { state.withLock { $0.arrivals.count } }

    private static func sweep(_ state: inout State, now: UInt64, maxKeys: Int) {
        state.arrivals = state.arrivals.filter { $0.value > now }
        if state.arrivals.count > maxKeys {
            let keep = state.arrivals.sorted { $0.value > $1.value }.prefix(maxKeys / 2)
            state.arrivals = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }
}
