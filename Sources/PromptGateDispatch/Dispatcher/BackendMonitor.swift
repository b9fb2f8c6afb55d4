import Logging
import PromptGateCore
import Synchronization

/// Keeps the pool's picture of each backend true: `/system_stats` every `health_interval` (down after
/// `failure_threshold` failures in a row), and the workflow checked against the backend's `/object_info`
/// before it gets work, after it comes back, while it is ineligible (a fixed server becomes eligible without
/// a restart), every `revalidate_interval` while it is up (a file deleted from a running server), and when
/// what the presets need changes.
final class BackendMonitor: Sendable {
    let pool: BackendPool
    let workflow: Workflow
    let clients: [String: ComfyUIClient]
    let interval: Duration
    /// How long an `up` backend's `/object_info` check holds.
    let revalidateInterval: Duration
    private let logger: Logger
    /// What every backend must offer (`settings.requirements` at start, replaced on reload).
    private let requirements: Mutex<BackendRequirements>
    /// Called after every round, so the scheduler looks for work a backend can now take.
    private let onChange: @Sendable () -> Void

    init(
        pool: BackendPool, workflow: Workflow, clients: [String: ComfyUIClient], requirements: BackendRequirements,
        interval: Duration, revalidateInterval: Duration,
        logger: Logger, onChange: @escaping @Sendable () -> Void
    ) {
        self.pool = pool
        self.workflow = workflow
        self.clients = clients
        self.interval = interval
        self.revalidateInterval = revalidateInterval
        self.logger = logger
        self.requirements = Mutex(requirements)
        self.onChange = onChange
    }

    /// Checks every backend until cancelled.
    func run() async {
        while !Task.isCancelled {
            await checkAll()
            try? await Task.sleep(for: interval)
        }
    }

    /// One round of health checks, and `/object_info` validation where needed.
    func checkAll() async {
        await withTaskGroup(of: Void.self) { group in
            for backend in pool.backends {
                guard let client = clients[backend.name] else { continue }
                group.addTask { await self.check(backend.name, client: client) }
            }
        }
        onChange()
    }

    /// What every backend must offer now.
    var requirementsNow: BackendRequirements { requirements.withLock { $0 } }

    /// Replaces what every backend must offer; when it changed, every backend is checked again at once.
    func updateRequirements(_ new: BackendRequirements) async {
        let changed = requirements.withLock { current -> Bool in
            guard current != new else { return false }
            current = new
            return true
        }
        guard changed else { return }
        pool.requestRevalidation()
        await checkAll()
    }

    /// Checks one backend's `/object_info` now, whatever its last check (ComfyUI refused a model value the
    /// check had passed).
    func revalidate(_ name: String) async {
        guard let client = clients[name] else { return }
        await validate(name, client: client)
        onChange()
    }

    private func check(_ name: String, client: ComfyUIClient) async {
        do {
            _ = try await client.systemStats()
        } catch {
            if pool.recordHealth(name, ok: false, error: error.reason) {
                logger.error(
                    "backend down",
                    metadata: ["backend": "\(name)", "code": "\(error.reason.code)", "error": "\(error)"])
            }
            return
        }
        if pool.recordHealth(name, ok: true) {
            logger.notice("backend is back", metadata: ["backend": "\(name)"])
        }
        guard pool.needsValidation(name, every: revalidateInterval) else { return }
        await validate(name, client: client)
    }

    private func validate(_ name: String, client: ComfyUIClient) async {
        let info: [String: JSONValue]
        do {
            info = try await client.objectInfo()
        } catch {
            pool.recordHealth(name, ok: false, error: error.reason)
            return
        }
        let wanted = requirements.withLock { $0 }
        let problems = WorkflowValidator.problems(workflow, objectInfo: info, requirements: wanted)
        let problem = WorkflowValidator.reason(for: problems)
        let missing = WorkflowValidator.missingLoras(workflow, objectInfo: info, requirements: wanted)
        let before = condition(of: name)
        let missingBefore = pool.snapshot.first { $0.backend.name == name }?.state.missingLoras
        pool.recordValidation(name, problem: problem, missingLoras: missing)
        if missing != missingBefore, !missing.isEmpty {
            logger.warning(
                "backend lacks LoRA files; requests needing them go to other backends",
                metadata: ["backend": "\(name)", "missing": "\(missing.sorted().joined(separator: ", "))"])
        }
        guard condition(of: name) != before else { return }
        if let problem {
            logger.error(
                "backend cannot run the workflow",
                metadata: ["backend": "\(name)", "code": "\(problem.code)", "problems": "\(problem.message)"])
        } else {
            logger.notice("backend ready", metadata: ["backend": "\(name)"])
        }
    }

    private func condition(of name: String) -> BackendPool.Condition? {
        pool.snapshot.first { $0.backend.name == name }?.state.condition
    }
}
