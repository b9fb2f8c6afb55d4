import Synchronization

/// The ComfyUI servers and what the dispatcher knows about each: tasks in flight, health, eligibility.
/// Work goes to the eligible, healthy backend with the fewest tasks in flight; a backend is marked down
/// after `failureThreshold` consecutive failed health checks and comes back on the first success.
public final class BackendPool: Sendable {
    public struct Backend: Sendable, Equatable {
        public var name: String
        public var url: String
        public var maxInFlight: Int
        public init(name: String, url: String, maxInFlight: Int = 1) {
            self.name = name
            self.url = url
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    public struct State: Sendable, Equatable {
        public var inFlight = 0
        public var consecutiveFailures = 0
        public var isDown = false
        /// Why the workflow cannot run there (from `/object_info`), or nil.
        public var ineligibleReason: String?

        public var isAvailable: Bool { !isDown && ineligibleReason == nil }
    }

    public let backends: [Backend]
    public let failureThreshold: Int
    private let states: Mutex<[String: State]>

    public init(backends: [Backend], failureThreshold: Int = 3) {
        self.backends = backends
        self.failureThreshold = max(1, failureThreshold)
        states = Mutex(Dictionary(uniqueKeysWithValues: backends.map { ($0.name, State()) }))
    }

    /// Reserves a slot on the best backend (fewest in flight; ties in configuration order), skipping
    /// `excluded` (e.g. the one a retry just failed on when another exists). Nil when none has room.
    public func acquire(excluding excluded: Set<String> = []) -> Backend? {
        states.withLock { states in
            var best: Backend? = nil
            for backend in backends where !excluded.contains(backend.name) {
                guard let state = states[backend.name], state.isAvailable, state.inFlight < backend.maxInFlight else { continue }
                if best == nil || state.inFlight < states[best!.name]!.inFlight { best = backend }
            }
            if let best { states[best.name]!.inFlight += 1 }
            return best
        }
    }

    /// Frees the slot `acquire` reserved.
    public func release(_ name: String) {
        states.withLock { states in
            if let inFlight = states[name]?.inFlight, inFlight > 0 { states[name]!.inFlight -= 1 }
        }
    }

    /// Records a health check; returns true when the backend just went down or came back (log it).
    @discardableResult
    public func recordHealth(_ name: String, ok: Bool) -> Bool {
        states.withLock { states in
            guard var state = states[name] else { return false }
            let wasDown = state.isDown
            if ok {
                state.consecutiveFailures = 0
                state.isDown = false
            } else {
                state.consecutiveFailures += 1
                if state.consecutiveFailures >= failureThreshold { state.isDown = true }
            }
            states[name] = state
            return wasDown != state.isDown
        }
    }

    /// Marks the workflow unusable on a backend (nil: usable again), e.g. after `WorkflowValidator`.
    public func setIneligible(_ name: String, reason: String?) {
        states.withLock { $0[name]?.ineligibleReason = reason }
    }

    /// Every backend with its state, in configuration order (for `/status` and metrics).
    public var snapshot: [(backend: Backend, state: State)] {
        states.withLock { states in backends.map { ($0, states[$0.name] ?? State()) } }
    }
}
