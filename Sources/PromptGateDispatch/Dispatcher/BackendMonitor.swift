import Logging
import PromptGateCore
import Synchronization

/// Keeps the pool's picture of each backend true: `/system_stats` every `health_interval` (down after
/// `failure_threshold` failures in a row), and the workflow checked against the backend's `/object_info`
/// before it gets work, after it comes back, while it is ineligible (a fixed server becomes eligible without
/// a restart), and when the LoRA files the presets name change.
final class BackendMonitor: Sendable {
    let pool: BackendPool
    let workflow: Workflow
    let clients: [String: ComfyUIClient]
    let interval: Duration
    private let logger: Logger
    /// LoRA files every backend must have (`settings.loraFiles` at start, replaced on reload).
    private let loraFiles: Mutex<[String]>
    /// Called after every round, so the scheduler looks for work a backend can now take.
    private let onChange: @Sendable () -> Void

    init(
        pool: BackendPool, workflow: Workflow, clients: [String: ComfyUIClient], loraFiles: [String],
        interval: Duration,
        logger: Logger, onChange: @escaping @Sendable () -> Void
    ) {
        self.pool = pool
        self.workflow = workflow
        self.clients = clients
        self.interval = interval
        self.logger = logger
        self.loraFiles = Mutex(loraFiles)
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

    /// Replaces the LoRA files every backend must have; when they changed, every backend is checked again
    /// at once.
    func updateLoraFiles(_ files: [String]) async {
        let changed = loraFiles.withLock { current -> Bool in
            guard current != files else { return false }
            current = files
            return true
        }
        guard changed else { return }
        pool.requestRevalidation()
        await checkAll()
    }

    private func check(_ name: String, client: ComfyUIClient) async {
        do {
            _ = try await client.systemStats()
        } catch {
            if pool.recordHealth(name, ok: false, error: "\(error)") {
                logger.error("backend down", metadata: ["backend": "\(name)", "error": "\(error)"])
            }
            return
        }
        if pool.recordHealth(name, ok: true) {
            logger.notice("backend is back", metadata: ["backend": "\(name)"])
        }
        guard pool.needsValidation(name) else { return }
        let info: [String: JSONValue]
        do {
            info = try await client.objectInfo()
        } catch {
            pool.recordHealth(name, ok: false, error: "GET /object_info: \(error)")
            return
        }
        let problems = WorkflowValidator.problems(workflow, objectInfo: info, loraFiles: loraFiles.withLock { $0 })
        let problem =
            problems.isEmpty
            ? nil
            : problems.prefix(5).joined(separator: "; ")
                + (problems.count > 5 ? "; and \(problems.count - 5) more" : "")
        let before = condition(of: name)
        pool.recordValidation(name, problem: problem)
        guard condition(of: name) != before else { return }
        if let problem {
            logger.error("backend cannot run the workflow", metadata: ["backend": "\(name)", "problems": "\(problem)"])
        } else {
            logger.notice("backend ready", metadata: ["backend": "\(name)"])
        }
    }

    private func condition(of name: String) -> BackendPool.Condition? {
        pool.snapshot.first { $0.backend.name == name }?.state.condition
    }
}
