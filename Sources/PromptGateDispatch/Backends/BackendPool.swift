import PromptGateCore
import Synchronization

/// The ComfyUI servers and what the dispatcher knows about each: tasks in flight, health, eligibility.
/// Work goes to the available backend with the fewest tasks in flight. A backend is available once its
/// `/object_info` has been checked against the workflow without problems, and while it is not down; it is
/// marked down after `failureThreshold` consecutive failed health checks and comes back on the first success
/// (the dispatcher then checks `/object_info` again).
public final class BackendPool: Sendable {
    /// A ComfyUI server the dispatcher may use.
    public struct Backend: Sendable, Equatable {
        /// Its name in logs, metrics and task metadata.
        public var name: String
        /// Its base URL (`http://host:8188`).
        public var url: String
        /// Prompts sent to it at once (ComfyUI runs one; a second hides the upload gap).
        public var maxInFlight: Int
        /// A backend at `url`.
        public init(name: String, url: String, maxInFlight: Int = 1) {
            self.name = name
            self.url = url
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    /// Whether a backend may get work, and if not, why.
    public enum Condition: Sendable, Equatable {
        /// Not validated against the workflow since start (or since it was last down).
        case checking
        /// Healthy and able to run the workflow.
        case up
        /// Failed `failureThreshold` health checks in a row.
        case down
        /// Healthy, but it cannot run the workflow: node classes or files missing (`/object_info`, or a model
        /// value ComfyUI refused). The reason has a stable code and each problem in its details.
        case ineligible(TaskReason)

        /// `up`, `down`, `ineligible` or `checking`, for `/status`.
        public var label: String {
            switch self {
            case .checking: "checking"
            case .up: "up"
            case .down: "down"
            case .ineligible: "ineligible"
            }
        }
    }

    /// What the pool knows about one backend.
    public struct State: Sendable, Equatable {
        /// Tasks running there now.
        public var inFlight = 0
        /// Failed health checks in a row.
        public var consecutiveFailures = 0
        /// Whether it gets work.
        public var condition = Condition.checking
        /// The last health check's failure.
        public var lastError: TaskReason?
        /// When `/object_info` was last checked against the workflow.
        var validatedAt: ContinuousClock.Instant?
        /// What the workflow needs changed (a reload): check again at the next round, keeping the backend in use.
        var recheck = false
        /// LoRA files the presets name that this backend lacks (its last check): requests needing one go elsewhere.
        public var missingLoras: Set<String> = []

        /// Whether new work may go there.
        public var isAvailable: Bool { condition == .up }
        /// Whether it is marked down.
        public var isDown: Bool { condition == .down }
        /// Why the workflow cannot run there, when it cannot.
        public var ineligibleReason: TaskReason? {
            if case .ineligible(let reason) = condition { return reason }
            return nil
        }
        /// Why it gets no work, when it gets none: ineligible, down, or still being checked; its last health
        /// failure otherwise (nil when all is well).
        public var problem: TaskReason? {
            switch condition {
            case .ineligible(let reason): return reason
            case .down:
                return TaskReason(
                    code: lastError?.code ?? "comfyui.unreachable",
                    message: "down: \(lastError?.message ?? "health checks failed")", details: lastError?.details)
            case .checking:
                return lastError
                    ?? TaskReason(
                        code: "backend.checking", message: "not checked against the workflow yet (health check pending)"
                    )
            case .up: return lastError
            }
        }
        /// The condition's name (`up`, `down`, `ineligible`, `checking`).
        public var label: String { condition.label }
    }

    /// How a backend is picked among those with a free slot (`gpu.strategy`).
    public enum Strategy: String, Sendable, CaseIterable {
        /// The one with the fewest tasks in flight; ties in configuration order.
        case leastLoaded = "least_loaded"
        /// Each pick starts one backend after the previous pick, taking the first with a free slot.
        case roundRobin = "round_robin"
    }

    /// The backends, in configuration order.
    public let backends: [Backend]
    /// How a backend is picked.
    public let strategy: Strategy
    /// Consecutive failures after which a backend is marked down.
    public let failureThreshold: Int
    private let states: Mutex<[String: State]>
    /// Where the next round-robin pick starts (taken under the `states` lock).
    private let cursor = Atomic<Int>(0)

    /// A pool over `backends`, all `checking` until the first health check.
    public init(backends: [Backend], failureThreshold: Int = 3, strategy: Strategy = .leastLoaded) {
        self.backends = backends
        self.failureThreshold = max(1, failureThreshold)
        self.strategy = strategy
        states = Mutex(Dictionary(uniqueKeysWithValues: backends.map { ($0.name, State()) }))
    }

    /// Reserves a slot on an available backend: the one with the fewest tasks in flight (ties in configuration
    /// order), or with `round_robin` the next one in turn that has room.
    /// Backends in `avoiding` (those a retry already failed on) are used only when no other backend is
    /// available at all; if another is available but full, nil (wait for it). Nil when nothing has room.
    public func acquire(avoiding avoided: Set<String> = [], needing files: Set<String> = []) -> Backend? {
        states.withLock { states in
            let available = backends.filter {
                guard let state = states[$0.name], state.isAvailable else { return false }
                return files.isEmpty || state.missingLoras.isDisjoint(with: files)
            }
            let preferred = available.filter { !avoided.contains($0.name) }
            var candidates = preferred.isEmpty ? available : preferred
            if strategy == .roundRobin, !candidates.isEmpty {
                let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue % candidates.count
                candidates = Array(candidates[start...] + candidates[..<start])
            }
            var best: Backend? = nil
            var bestLoad = Int.max
            for backend in candidates where strategy == .leastLoaded || best == nil {
                let load = states[backend.name]?.inFlight ?? 0
                if load < backend.maxInFlight && load < bestLoad {
                    best = backend
                    bestLoad = load
                }
            }
            if let best { states[best.name]?.inFlight += 1 }
            return best
        }
    }

    /// Takes a slot on a named backend whatever its state and load (a run found still in progress there after a
    /// restart: it occupies the backend either way). Nil when no backend has that name any more.
    public func occupy(_ name: String) -> Backend? {
        states.withLock { states in
            guard let backend = backends.first(where: { $0.name == name }) else { return nil }
            states[name]?.inFlight += 1
            return backend
        }
    }

    /// The backend configured under `name`.
    public func backend(named name: String) -> Backend? { backends.first { $0.name == name } }

    /// Frees the slot `acquire` reserved.
    public func release(_ name: String) {
        states.withLock { states in
            if let inFlight = states[name]?.inFlight, inFlight > 0 { states[name]?.inFlight = inFlight - 1 }
        }
    }

    /// Records a health check; returns true when the backend just went down or came back (log it). Going down
    /// clears the validation, so a recovered backend is checked again before it gets work.
    @discardableResult
    public func recordHealth(_ name: String, ok: Bool, error: TaskReason? = nil) -> Bool {
        states.withLock { states in
            guard var state = states[name] else { return false }
            let wasDown = state.isDown
            if ok {
                state.consecutiveFailures = 0
                state.lastError = nil
                if wasDown { state.condition = .checking }
            } else {
                state.consecutiveFailures += 1
                state.lastError = error
                if state.consecutiveFailures >= failureThreshold { state.condition = .down }
            }
            states[name] = state
            return wasDown != state.isDown
        }
    }

    /// Records the `/object_info` check: nil when the backend can run the workflow, else why not.
    public func recordValidation(_ name: String, problem: TaskReason?, missingLoras: Set<String> = []) {
        states.withLock { states in
            guard var state = states[name] else { return }
            state.missingLoras = missingLoras
            // A check that finished after the backend went down says nothing about it now.
            if !state.isDown { state.condition = problem.map { .ineligible($0) } ?? .up }
            state.recheck = false
            state.validatedAt = .now
            states[name] = state
        }
    }

    /// Marks a backend that refused a model file the workflow needs as ineligible at once (its next
    /// `/object_info` check decides when it is back); nothing changes for a backend that is down.
    public func markIneligible(_ name: String, reason: TaskReason) {
        states.withLock { states in
            guard var state = states[name], !state.isDown else { return }
            state.condition = .ineligible(reason)
            states[name] = state
        }
    }

    /// Whether a backend needs its `/object_info` check: never checked, recovered, ineligible (a fixed server
    /// becomes eligible without a restart), asked for (`requestRevalidation`), or up and last checked longer
    /// than `interval` ago (a file deleted from a running server is noticed).
    public func needsValidation(_ name: String, every interval: Duration? = nil) -> Bool {
        states.withLock { states in
            guard let state = states[name] else { return false }
            switch state.condition {
            case .checking, .ineligible: return true
            case .up:
                if state.recheck { return true }
                guard let interval, let checked = state.validatedAt else { return false }
                return ContinuousClock.now - checked >= interval
            case .down: return false
            }
        }
    }

    /// Whether work can run now, and if not, why: `ready` while a backend is up; `impossible` when every backend
    /// is ineligible (a structural reason: node classes or model files missing, nothing will change without an
    /// operator); `waiting` otherwise (backends down or still being checked: they come back).
    public var availability: Availability {
        let all = snapshot
        if all.contains(where: { $0.state.isAvailable }) { return .ready }
        let details = JSONValue.array(
            all.map { backend, state in
                let problem = state.problem
                return [
                    "backend": .string(backend.name), "state": .string(state.label),
                    "code": problem.map { .string($0.code) } ?? .null,
                    "message": problem.map { .string($0.message) } ?? .null,
                ]
            })
        let each = all.map { "\($0.backend.name): \($0.state.problem?.message ?? $0.state.label)" }.joined(
            separator: "; ")
        if !all.isEmpty, all.allSatisfy({ $0.state.ineligibleReason != nil }) {
            return .impossible(
                TaskReason(
                    code: "dispatch.no_eligible_backend", message: "no backend can run this workflow (\(each))",
                    details: details))
        }
        return .waiting(
            TaskReason(
                code: "dispatch.no_backend_available", message: "no backend is available now (\(each))",
                details: details))
    }

    /// Why no backend can run a request needing these LoRA files, or nil when one can or may (a backend not
    /// checked yet might have them). Checked backends that are ineligible for the workflow do not count.
    public func loraRefusal(needing files: Set<String>) -> TaskReason? {
        guard !files.isEmpty else { return nil }
        let all = snapshot
        guard !all.isEmpty, !all.contains(where: { $0.state.condition == .checking }) else { return nil }
        let usable = all.filter { $0.state.ineligibleReason == nil }
        guard !usable.isEmpty,
            usable.allSatisfy({ !$0.state.missingLoras.isDisjoint(with: files) })
        else { return nil }
        let each = usable.map { backend, state in
            "\(backend.name) lacks \(state.missingLoras.intersection(files).sorted().joined(separator: ", "))"
        }.joined(separator: "; ")
        return TaskReason(
            code: "dispatch.lora_unavailable",
            message: "no backend has the LoRA files this request needs (\(each))",
            details: [
                "files": .array(files.sorted().map { .string($0) }),
                "backends": .array(
                    usable.map { backend, state in
                        [
                            "backend": .string(backend.name),
                            "missing": .array(state.missingLoras.intersection(files).sorted().map { .string($0) }),
                        ]
                    }),
            ])
    }

    /// Whether work can run now (see `availability`).
    public enum Availability: Sendable, Equatable {
        /// A backend is up.
        case ready
        /// None is up now, but one may come back.
        case waiting(TaskReason)
        /// Every backend is ineligible for the workflow.
        case impossible(TaskReason)
    }

    /// Asks for every backend's `/object_info` check again (what the workflow needs changed); backends stay in
    /// use until their check says otherwise.
    public func requestRevalidation() {
        states.withLock { states in
            for name in states.keys { states[name]?.recheck = true }
        }
    }

    /// Slots on available backends (for estimates).
    public var availableSlots: Int {
        states.withLock { states in
            backends.filter { states[$0.name]?.isAvailable ?? false }.reduce(0) { $0 + $1.maxInFlight }
        }
    }

    /// Every backend with its state, in configuration order (for `/status` and metrics).
    public var snapshot: [(backend: Backend, state: State)] {
        states.withLock { states in backends.map { ($0, states[$0.name] ?? State()) } }
    }
}
