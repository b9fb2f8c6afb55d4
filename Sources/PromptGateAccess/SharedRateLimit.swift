import Dispatch
import PromptGateCore
import Synchronization

/// Rate-limit state that several gateways share (in PostgreSQL: one row per bucket): GCRA steps taken where
/// every gateway sees them, so N gateways allow the configured rate in total.
public protocol SharedRateLimitState: Sendable {
    /// Takes up to `wanted` requests' worth from `bucket`, as many as fit now: the bucket's theoretical arrival
    /// time moves `emission` ahead per request granted, never past `tolerance` beyond now (microseconds).
    /// - Returns: how many were granted (0: refused), the arrival time after the step (granted) or as it stands
    ///   (refused), and the state's own clock, in microseconds.
    func rateLimitStep(bucket: String, emission: Int64, tolerance: Int64, wanted: Int) async throws
        -> (granted: Int, arrival: Int64, now: Int64)
}

/// Requests a gateway took from a shared bucket ahead of use, so that a busy key costs one database step per
/// batch rather than per request. A batch covers at most `window` of the key's sustained rate (a key limited
/// to 60 a minute is never batched: one request per step), and what is not used within `window` is dropped:
/// taken requests were charged to the bucket, so the total never exceeds the configured rate (a gateway may
/// admit less than it, by at most one batch per window). A refusal is remembered until the bucket can have
/// room again (other gateways only push its arrival time further), so an empty bucket costs no step either.
/// Kept across reloads, like the local limiter.
public final class SharedRateLimitReservations: Sendable {
    private struct Reserved {
        var left: Int
        var expires: UInt64
    }

    /// What `take` found.
    enum Taken: Equatable {
        /// A reserved request, with how many are left.
        case reserved(left: Int)
        /// The bucket was found empty; it cannot have room before this many nanoseconds pass.
        case refused(retryAfter: UInt64)
        /// Nothing known: ask the shared state.
        case unknown
    }

    /// How much of a key's sustained rate one batch may cover.
    public let window: Duration
    private let reserved = Mutex<[String: Reserved]>([:])

    /// - Parameter window: the longest stretch of a key's rate one batch takes (default 50 ms).
    public init(window: Duration = .milliseconds(50)) { self.window = window }

    /// The batch size for `policy`: `window` worth of its sustained rate, at least 1, at most its burst + 1.
    func batch(for policy: RateLimitPolicy) -> Int {
        max(1, min(policy.burst + 1, Int(windowNanoseconds / policy.emissionInterval)))
    }

    private var windowNanoseconds: UInt64 {
        UInt64(window.components.seconds) * 1_000_000_000 + UInt64(window.components.attoseconds / 1_000_000_000)
    }

    /// Uses one reserved request of `bucket`, or reports a remembered refusal.
    func take(_ bucket: String, now: UInt64) -> Taken {
        reserved.withLock { reserved in
            guard let entry = reserved[bucket] else { return .unknown }
            guard entry.expires > now else {
                reserved[bucket] = nil
                return .unknown
            }
            // A refusal is kept as an entry with nothing left until the bucket may have room.
            guard entry.left > 0 else { return .refused(retryAfter: entry.expires - now) }
            reserved[bucket]?.left -= 1
            if entry.left == 1 { reserved[bucket] = nil }
            return .reserved(left: entry.left - 1)
        }
    }

    /// A shared step's answer: requests granted, the arrival time and the state's clock (microseconds).
    public typealias Step = (granted: Int, arrival: Int64, now: Int64)

    private let flights = Mutex<[String: Task<Step, any Error>]>([:])

    /// The step in flight for `bucket` (`leads` false: wait for it, then look at the reservations again), or a
    /// new one running `step`, which keeps its batch or remembers its refusal before it ends; `alone` always
    /// starts one, without making it the bucket's.
    func flight(_ bucket: String, alone: Bool, _ step: @escaping @Sendable () async throws -> Step)
        -> (task: Task<Step, any Error>, leads: Bool)
    {
        if alone { return (Task { try await step() }, true) }
        return flights.withLock { flights in
            if let running = flights[bucket] { return (running, false) }
            let task = Task {
                // Gone from the table once it ends (it waits for this lock, so it is registered first).
                defer { _ = self.flights.withLock { $0.removeValue(forKey: bucket) } }
                return try await step()
            }
            flights[bucket] = task
            return (task, true)
        }
    }

    /// Remembers that `bucket` is empty for `retryAfter` nanoseconds from `now`.
    func refuse(_ bucket: String, for retryAfter: UInt64, now: UInt64) {
        guard retryAfter > 0 else { return }
        reserved.withLock { $0[bucket] = Reserved(left: 0, expires: now + retryAfter) }
    }

    /// Keeps `count` requests of `bucket` for use until `window` from `now`.
    func keep(_ count: Int, of bucket: String, now: UInt64) {
        guard count > 0 else { return }
        reserved.withLock { reserved in
            // Sweep expired batches now and then, so keys that went quiet do not accumulate.
            if reserved.count > 1024 { reserved = reserved.filter { $0.value.expires > now } }
            reserved[bucket] = Reserved(left: count, expires: now + windowNanoseconds)
        }
    }
}

extension RateLimitDecision {
    /// The decision a shared step made, in the local limiter's terms.
    /// - Parameters: whether it allowed the request, the step's arrival and clock (microseconds), the policy.
    init(allowed: Bool, arrival: Int64, now: Int64, policy: RateLimitPolicy) {
        let pending = UInt64(max(0, arrival - now)) * 1000
        let emission = policy.emissionInterval, tolerance = policy.tolerance
        if allowed {
            let remaining = Int((tolerance - min(tolerance, pending)) / emission)
            self.init(allowed: true, remaining: remaining, resetAfter: pending, retryAfter: 0)
        } else {
            let wait = pending + emission
            self.init(
                allowed: false, remaining: 0, resetAfter: pending,
                retryAfter: wait > tolerance ? wait - tolerance : 0)
        }
    }
}

extension AccessControl {
    /// The shared step for a caller `admit` let through at the `submit` level: the local limiter only looked
    /// (a gateway that alone has used up the budget refuses without asking the database); this takes the
    /// request from the gateway's reserved batch for the bucket, else from the shared state (a new batch; one
    /// step per bucket at a time, the requests arriving meanwhile wait for it and share its batch), and counts
    /// it in the local limiter when allowed. When the shared state cannot be reached, the local limiter decides
    /// alone (each gateway then allows the full rate by itself).
    /// - Parameters:
    ///   - caller: the admitted caller; its `rateLimit` becomes the shared state's.
    ///   - state: the shared state.
    ///   - reservations: this gateway's reserved batches.
    ///   - trace: receives a `rate_limit_shared` entry.
    /// - Returns: whether the shared state answered (false: the local limiter decided).
    /// - Throws: 429 `rate_limited` when the bucket is empty across the gateways.
    @discardableResult
    public func countShared(
        _ caller: inout Caller, in state: any SharedRateLimitState, reservations: SharedRateLimitReservations,
        trace: inout [TraceEntry]
    ) async throws(AccessError) -> Bool {
        guard let limiter, sharesLimits, caller.rateLimit != nil else { return true }
        let (bucket, policy) = rateBucket(caller)
        let start = DispatchTime.now().uptimeNanoseconds
        var entry = TraceEntry(stage: "rate_limit_shared", nanoseconds: 0, passed: false)
        defer {
            entry.nanoseconds = Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- start)
            trace.append(entry)
        }
        // Microseconds: the emission interval rounded up (a rate is never exceeded), the tolerance as many of
        // them as the burst allows.
        let emission = Int64((policy.emissionInterval + 999) / 1000)
        let tolerance = emission * Int64(policy.burst + 1)
        let wanted = reservations.batch(for: policy)
        let clock = self.clock
        for round in 0..<4 {
            let now = clock()
            switch reservations.take(bucket, now: now) {
            case .reserved(let left):
                _ = limiter.check(key: bucket, policy: policy, now: now)
                if var status = caller.rateLimit {
                    status.remaining = max(status.remaining, left)
                    caller.rateLimit = status
                }
                entry.passed = true
                return true
            case .refused(let retryAfter):
                let refused = RateLimitDecision(
                    allowed: false, remaining: 0, resetAfter: retryAfter, retryAfter: retryAfter)
                caller.rateLimit = try outcome(refused, policy: policy, bucket: bucket)
                return true
            case .unknown:
                break
            }
            // One step per bucket at a time; after three waits for others' batches, a step of its own.
            let (flight, leads) = reservations.flight(bucket, alone: round == 3) {
                let step = try await state.rateLimitStep(
                    bucket: bucket, emission: emission, tolerance: tolerance, wanted: wanted)
                if step.granted > 0 {
                    reservations.keep(step.granted - 1, of: bucket, now: clock())
                } else {
                    let refused = RateLimitDecision(
                        allowed: false, arrival: step.arrival, now: step.now, policy: policy)
                    reservations.refuse(bucket, for: refused.retryAfter, now: clock())
                }
                return step
            }
            let step: SharedRateLimitReservations.Step
            do {
                step = try await flight.value
            } catch {
                let decision = limiter.check(key: bucket, policy: policy, now: clock())
                caller.rateLimit = try outcome(decision, policy: policy, bucket: bucket)
                entry.passed = true
                return false
            }
            guard leads else { continue }  // the batch it waited for is in the reservations now
            let decision = RateLimitDecision(
                allowed: step.granted > 0, arrival: step.arrival, now: step.now, policy: policy)
            if step.granted > 0 { _ = limiter.check(key: bucket, policy: policy, now: clock()) }
            caller.rateLimit = try outcome(decision, policy: policy, bucket: bucket)
            entry.passed = true
            return true
        }
        return true  // not reached: the last round leads
    }
}
