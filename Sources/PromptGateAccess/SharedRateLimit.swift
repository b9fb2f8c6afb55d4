import Dispatch
import PromptGateCore

/// Rate-limit state that several gateways share (in PostgreSQL: one row per bucket): one GCRA step per
/// request, taken where every gateway sees it, so N gateways allow the configured rate in total.
public protocol SharedRateLimitState: Sendable {
    /// Counts one request for `bucket` if it fits: the bucket's theoretical arrival time moves `emission`
    /// seconds ahead when it stays within `tolerance` of now.
    /// - Returns: whether it was allowed, the arrival time after the step (allowed) or as it stands (refused),
    ///   and the state's own clock, in seconds.
    func rateLimitStep(bucket: String, emission: Double, tolerance: Double) async throws
        -> (allowed: Bool, arrival: Double, now: Double)
}

extension RateLimitDecision {
    /// The decision a shared step made, in the local limiter's terms.
    /// - Parameters: the step's answer (seconds) and the policy it applied.
    init(allowed: Bool, arrival: Double, now: Double, policy: RateLimitPolicy) {
        let pending = UInt64(max(0, arrival - now) * 1e9)
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
    /// (a gateway that alone has used up the budget refuses without asking the database); this counts the
    /// request in the shared state, and in the local one when it is allowed. When the shared state cannot be
    /// reached, the local limiter decides alone (each gateway then allows the full rate by itself).
    /// - Parameters:
    ///   - caller: the admitted caller; its `rateLimit` becomes the shared state's.
    ///   - state: the shared state.
    ///   - trace: receives a `rate_limit_shared` entry.
    /// - Returns: whether the shared state answered (false: the local limiter decided).
    /// - Throws: 429 `rate_limited` when the bucket is empty across the gateways.
    @discardableResult
    public func countShared(_ caller: inout Caller, in state: any SharedRateLimitState, trace: inout [TraceEntry])
        async throws(AccessError) -> Bool
    {
        guard let limiter, sharesLimits, caller.rateLimit != nil else { return true }
        let (bucket, policy) = rateBucket(caller)
        let start = DispatchTime.now().uptimeNanoseconds
        var entry = TraceEntry(stage: "rate_limit_shared", nanoseconds: 0, passed: false)
        defer {
            entry.nanoseconds = Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- start)
            trace.append(entry)
        }
        let decision: RateLimitDecision
        var answered = true
        do {
            let step = try await state.rateLimitStep(
                bucket: bucket, emission: Double(policy.emissionInterval) / 1e9,
                tolerance: Double(policy.tolerance) / 1e9)
            decision = RateLimitDecision(allowed: step.allowed, arrival: step.arrival, now: step.now, policy: policy)
            if decision.allowed { _ = limiter.check(key: bucket, policy: policy, now: clock()) }
        } catch {
            decision = limiter.check(key: bucket, policy: policy, now: clock())
            answered = false
        }
        caller.rateLimit = try outcome(decision, policy: policy)
        entry.passed = true
        return answered
    }
}
