import Foundation
import Logging
import PromptGateCore
import Synchronization

/// What the dispatcher reports as it works (metrics live at the edge, in the server).
public protocol DispatchObserver: Sendable {
    /// A task left the queue for a backend; `waited` is the time since it was queued (this attempt).
    func taskStarted(_ task: GenerationTask, waited: Duration)
    /// A task reached its terminal state; `ran` is the last attempt's run time when it ran.
    func taskEnded(_ task: GenerationTask, ran: Duration?)
}

/// The last pipeline stage in `serve`: takes allowed, optimized requests into a priority queue and runs
/// them on the ComfyUI backends with the bound workflow, with retries, timeouts, cancellation, health
/// checks and `/object_info` validation. Every state change goes through the `TaskStore`.
///
/// Concurrency: the queue, the running set and the retry bookkeeping sit behind one `Mutex` (`state`);
/// the store and the pool have their own locks, always taken after `state`, never before. Runs are child
/// tasks of `run()`; ComfyUI calls go through libcurl on the transports' thread pool.
public final class Dispatcher: Sendable {
    /// One backend and the client that talks to it.
    public struct Target: Sendable {
        public var backend: BackendPool.Backend
        public var client: ComfyUIClient
        /// The backend's WebSocket (progress, early completion); nil: `/history` polling alone.
        public var events: ComfyUIEvents?
        public init(backend: BackendPool.Backend, client: ComfyUIClient, events: ComfyUIEvents? = nil) {
            self.backend = backend
            self.client = client
            self.events = events
        }
    }

    /// A task as the API shows it: the stored task plus its live queue position and progress.
    public struct TaskView: Sendable {
        public var task: GenerationTask
        /// 1-based place in the queue (queued tasks only).
        public var position: Int?
        /// 0...1; while running, estimated from the elapsed time and the measured average run time.
        public var progress: Double?
    }

    /// The answer to a submission.
    public struct Submission: Sendable {
        public var task: GenerationTask
        /// 1-based place in the queue, as `view` reports it.
        public var position: Int
        /// Seconds until it is expected to finish.
        public var estimatedSeconds: Int
    }

    private struct State {
        var queue: TaskQueue
        /// Running task id → when its attempt started.
        var running: [String: ContinuousClock.Instant] = [:]
        /// Task id → backends its attempts failed on.
        var failedOn: [String: Set<String>] = [:]
        /// Task ids waiting out `retry_delay` before they are queued again.
        var delayed: Set<String> = []
        /// When each queued task entered the queue (wait histogram).
        var queuedSince: [String: ContinuousClock.Instant] = [:]
    }

    public let settings: DispatchSettings
    public let store: any TaskStore
    public let pool: BackendPool
    public let estimator: RunTimeEstimator
    public let workflow: Workflow
    public let binding: WorkflowBinding
    /// Key for run-time averages.
    public let workflowName: String
    public let output: OutputFolder
    private let clients: [String: ComfyUIClient]
    private let events: [String: ComfyUIEvents]
    private let observer: (any DispatchObserver)?
    private let logger: Logger
    private let state: Mutex<State>
    /// LoRA files every backend must have (`settings.loraFiles` at start, replaced on reload).
    private let loraFiles: Mutex<[String]>
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    /// - Parameters:
    ///   - targets: the backends, in preference order for ties.
    public init(
        settings: DispatchSettings, workflow: Workflow, binding: WorkflowBinding, workflowName: String, targets: [Target],
        store: any TaskStore = InMemoryTaskStore(), estimator: RunTimeEstimator = RunTimeEstimator(),
        observer: (any DispatchObserver)? = nil, logger: Logger = Logger(label: "promptgate.dispatch")
    ) throws {
        self.settings = settings
        self.workflow = workflow
        self.binding = binding
        self.workflowName = workflowName
        self.store = store
        self.estimator = estimator
        self.observer = observer
        self.logger = logger
        output = try OutputFolder(path: settings.outputDirectory)
        pool = BackendPool(backends: targets.map(\.backend), failureThreshold: settings.failureThreshold)
        clients = Dictionary(targets.map { ($0.backend.name, $0.client) }, uniquingKeysWith: { first, _ in first })
        events = Dictionary(targets.compactMap { target in target.events.map { (target.backend.name, $0) } }, uniquingKeysWith: { first, _ in first })
        state = Mutex(State(queue: TaskQueue(capacity: settings.maxQueueSize, agingInterval: settings.agingInterval)))
        loraFiles = Mutex(settings.loraFiles)
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: - API

    /// Queues an optimized request.
    /// - Throws: `DispatchError` `queue_full` (429, with Retry-After) when `max_queue_size` tasks wait.
    public func submit(_ task: GenerationTask) throws(DispatchError) -> Submission {
        let now = Date()
        let (position, running) = try state.withLock { state throws(DispatchError) -> (Int, Int) in
            guard !state.queue.isFull else {
                let slots = max(1, min(settings.maxConcurrent, pool.availableSlots))
                let retryAfter = max(1, Int((estimator.average(workflow: workflowName) / Double(slots)).rounded(.up)))
                throw .queueFull(capacity: state.queue.capacity, retryAfter: retryAfter)
            }
            do throws(TaskStoreError) {
                try store.insert(task)
            } catch {
                throw DispatchError(code: error.code, httpStatus: 500, message: error.message)
            }
            state.queue.push(id: task.id, priority: task.priority, at: now)
            state.queuedSince[task.id] = .now
            return (state.queue.position(of: task.id, now: now) ?? state.queue.count, state.running.count)
        }
        wakeup.yield()
        // Runs ahead of it: the queue in front, and what is running now.
        let slots = max(1, min(settings.maxConcurrent, pool.availableSlots))
        let estimate = estimator.estimate(workflow: workflowName, position: position + running, slots: slots)
        return Submission(task: task, position: position, estimatedSeconds: estimate)
    }

    /// A task with its queue position and progress, or nil.
    public func view(id: String) -> TaskView? {
        guard let task = store.task(id: id) else { return nil }
        switch task.status {
        case .queued:
            let position = state.withLock { $0.queue.position(of: id, now: Date()) }
            return TaskView(task: task, position: position, progress: 0)
        case .running:
            // The sampler's own progress when the backend's WebSocket reports it, else elapsed / average run time.
            if let backend = task.backend, let promptID = task.promptID, let reported = events[backend]?.progress(promptID) {
                return TaskView(task: task, position: nil, progress: min(0.99, reported))
            }
            let started = state.withLock { $0.running[id] }
            let elapsed = started.map { (ContinuousClock.now - $0).seconds } ?? 0
            let average = estimator.average(workflow: workflowName)
            return TaskView(task: task, position: nil, progress: min(0.95, average > 0 ? elapsed / average : 0))
        case .completed:
            return TaskView(task: task, position: nil, progress: 1)
        case .failed, .cancelled, .expired:
            return TaskView(task: task, position: nil, progress: nil)
        }
    }

    /// Cancels a task: a queued one leaves the queue, a running one is interrupted on its backend.
    /// - Throws: `DispatchError` `task.not_found` (404) or `task.finished` (409).
    @discardableResult
    public func cancel(id: String) async throws(DispatchError) -> GenerationTask {
        guard let before = store.task(id: id) else { throw .notFound(id) }
        guard !before.status.isTerminal else { throw .finished(before) }
        state.withLock { state in
            state.queue.remove(id: id)
            state.delayed.remove(id)
            state.queuedSince[id] = nil
            state.failedOn[id] = nil
        }
        let cancelled: GenerationTask
        do throws(TaskStoreError) {
            cancelled = try store.transition(id: id, to: .cancelled) { task in
                task.reason = TaskReason(code: "cancelled", message: "cancelled by the caller")
                task.finishedAt = Date()
            }
        } catch {
            // It ended between the two reads.
            if let now = store.task(id: id), now.status.isTerminal { throw .finished(now) }
            throw DispatchError(code: error.code, httpStatus: 409, message: error.message)
        }
        // A run in progress reports its own end when it notices; anything else ends here.
        if state.withLock({ $0.running[id] == nil }) { observer?.taskEnded(cancelled, ran: nil) }
        // A running attempt also stops itself at its next poll; interrupting now frees the GPU sooner.
        if let backend = cancelled.backend, let promptID = cancelled.promptID, let client = clients[backend] {
            await stopOnBackend(client, promptID: promptID)
        }
        wakeup.yield()
        return cancelled
    }

    /// Whether a backend's WebSocket is open now; nil when the dispatcher does not listen to it.
    public func isListening(to backend: String) -> Bool? { events[backend]?.isConnected }

    /// Queue depth by priority, running count and backends (for `/status` and metrics).
    public var snapshot: (queued: [Priority: Int], running: Int, delayed: Int, backends: [(backend: BackendPool.Backend, state: BackendPool.State)]) {
        let (queued, running, delayed) = state.withLock { state -> ([Priority: Int], Int, Int) in
            var counts: [Priority: Int] = [.high: 0, .normal: 0, .low: 0]
            for entry in state.queue.entries { counts[entry.priority, default: 0] += 1 }
            return (counts, state.running.count, state.delayed.count)
        }
        return (queued, running, delayed, pool.snapshot)
    }

    // MARK: - The loop

    /// Dispatches until cancelled: takes queued tasks to backends as slots free up, checks backend health,
    /// expires tasks that waited too long. Runs in flight when it is cancelled are left as they are (a
    /// durable store would pick them up again from their `prompt_id`).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.healthLoop() }
            group.addTask { await self.expiryLoop() }
            for socket in events.values { group.addTask { await socket.run(logger: self.logger) } }
            wakeup.yield()
            for await _ in wakeups {
                while let (id, backend) = next() {
                    group.addTask { await self.execute(id, on: backend) }
                }
            }
            group.cancelAll()
        }
    }

    /// The next queued task and the backend it goes to, with the slot reserved; nil when nothing can start.
    private func next() -> (String, BackendPool.Backend)? {
        state.withLock { state -> (String, BackendPool.Backend)? in
            guard state.running.count < settings.maxConcurrent else { return nil }
            let now = Date()
            // Usually the head of the queue goes; only tasks that failed somewhere may need to look further.
            guard let head = state.queue.first(now: now) else { return nil }
            let candidates = state.failedOn[state.queue.entries[head].id] == nil ? [head] : state.queue.order(now: now)
            for index in candidates {
                let entry = state.queue.entries[index]
                guard let backend = pool.acquire(avoiding: state.failedOn[entry.id] ?? []) else {
                    // Nothing has room for a task without history either: stop looking.
                    if state.failedOn[entry.id] == nil { return nil }
                    continue
                }
                state.queue.remove(id: entry.id)
                state.running[entry.id] = .now
                if let since = state.queuedSince.removeValue(forKey: entry.id), let task = store.task(id: entry.id) {
                    observer?.taskStarted(task, waited: .now - since)
                }
                return (entry.id, backend)
            }
            return nil
        }
    }

    /// How one attempt ended.
    private enum Outcome {
        case completed([TaskImage])
        case failed(TaskReason)
        case retry(TaskReason)
        /// Cancelled by the caller (already recorded) or the dispatcher is shutting down.
        case abandoned
    }

    private func execute(_ id: String, on backend: BackendPool.Backend) async {
        let started = ContinuousClock.now
        defer {
            pool.release(backend.name)
            let ended = store.task(id: id)?.status.isTerminal ?? true
            state.withLock { state in
                state.running[id] = nil
                if ended { state.failedOn[id] = nil }
            }
            wakeup.yield()
        }
        let task: GenerationTask
        do {
            task = try store.transition(id: id, to: .running) { task in
                task.attempts += 1
                task.backend = backend.name
                task.startedAt = task.startedAt ?? Date()
                // A fresh prompt_id per attempt: ComfyUI overwrites history entries of a reused id.
                task.promptID = task.attempts == 1 ? task.id : UUID().uuidString.lowercased()
            }
        } catch {
            // Cancelled while it was being picked.
            if let now = store.task(id: id), now.status == .cancelled { observer?.taskEnded(now, ran: nil) }
            return
        }
        guard let client = clients[backend.name], let promptID = task.promptID else { return }
        let socket = events[backend.name]
        socket?.watch(promptID)
        let outcome = await attempt(task, promptID: promptID, client: client, events: socket)
        socket?.forget(promptID)
        let ran = ContinuousClock.now - started
        switch outcome {
        case .completed(let images):
            do {
                let done = try store.transition(id: id, to: .completed) { task in
                    task.images = images
                    task.reason = nil
                    task.finishedAt = Date()
                }
                estimator.record(workflow: workflowName, seconds: ran.seconds)
                observer?.taskEnded(done, ran: ran)
                logger.info("task completed", metadata: ["task": "\(id)", "backend": "\(backend.name)", "seconds": "\(ran.seconds)", "images": "\(images.count)"])
            } catch {
                output.remove(images.map(\.file))  // cancelled while the images were fetched
            }
        case .failed(let reason):
            end(id, reason: reason, ran: ran, backend: backend.name)
        case .retry(let reason):
            guard task.attempts <= settings.maxRetries else {
                let final = TaskReason(
                    code: reason.code, message: "gave up after \(task.attempts) attempt\(task.attempts == 1 ? "" : "s"): \(reason.message)",
                    details: reason.details)
                end(id, reason: final, ran: ran, backend: backend.name)
                return
            }
            requeue(id, after: reason, failedOn: backend.name)
        case .abandoned:
            if let now = store.task(id: id), now.status == .cancelled { observer?.taskEnded(now, ran: ran) }
        }
    }

    private func end(_ id: String, reason: TaskReason, ran: Duration, backend: String) {
        guard let failed = try? store.transition(id: id, to: .failed, { task in
            task.reason = reason
            task.finishedAt = Date()
        }) else { return }
        observer?.taskEnded(failed, ran: ran)
        logger.warning("task failed", metadata: ["task": "\(id)", "backend": "\(backend)", "code": "\(reason.code)", "error": "\(reason.message)"])
    }

    /// Back to the queue after `retry_delay`, avoiding the backend that failed while another is available.
    private func requeue(_ id: String, after reason: TaskReason, failedOn backend: String) {
        guard (try? store.transition(id: id, to: .queued, { $0.reason = reason })) != nil else { return }
        state.withLock { state in
            state.failedOn[id, default: []].insert(backend)
            state.delayed.insert(id)
        }
        logger.notice("task will be retried", metadata: ["task": "\(id)", "backend": "\(backend)", "error": "\(reason.message)"])
        let delay = settings.retryDelay
        Task {
            try? await Task.sleep(for: delay)
            let now = Date()
            self.state.withLock { state in
                // Cancelled meanwhile: `cancel` removed it from `delayed`.
                guard state.delayed.remove(id) != nil else { return }
                // Retries may exceed the capacity by the few tasks in flight: an accepted task is never dropped.
                state.queue.forcePush(id: id, priority: self.store.task(id: id)?.priority ?? .normal, at: now)
                state.queuedSince[id] = .now
            }
            self.wakeup.yield()
        }
    }

    /// One attempt on one backend: queue the patched workflow, poll `/history` until it ends, fetch every output.
    private func attempt(_ task: GenerationTask, promptID: String, client: ComfyUIClient, events: ComfyUIEvents?) async -> Outcome {
        let patched = WorkflowPatcher.apply(task.request, loras: task.loras, taskID: promptID, to: workflow, binding: binding)
        do {
            try await client.queue(patched, promptID: promptID)
        } catch {
            switch error {
            case .rejected(let type, let message, let nodeErrors):
                return .failed(TaskReason(code: "comfyui.rejected", message: "ComfyUI refused the workflow (\(type)): \(message)", details: nodeErrors))
            case .retryable(let message):
                return .retry(TaskReason(code: "comfyui.unavailable", message: message))
            }
        }
        let deadline = ContinuousClock.now + settings.generationTimeout
        // The first look is immediate (a cached or instant run is already done), then the interval backs off.
        var interval = Duration.zero
        var failures = 0
        var lastSeen = ContinuousClock.now
        while true {
            if store.task(id: task.id)?.status != .running {
                await stopOnBackend(client, promptID: promptID)
                return .abandoned
            }
            if ContinuousClock.now >= deadline {
                await stopOnBackend(client, promptID: promptID)
                return .failed(TaskReason(
                    code: "generation_timeout",
                    message: "the run took longer than queue.generation_timeout (\(settings.generationTimeout)) and was interrupted"))
            }
            if interval > .zero {
                let wait = min(interval, deadline - ContinuousClock.now)
                // The socket's end-of-run event wakes us early; the timer is the fallback (socket down or late).
                if let events {
                    await events.wait(for: promptID, upTo: wait)
                } else {
                    try? await Task.sleep(for: wait)
                }
                if Task.isCancelled { return .abandoned }  // shutting down
            }
            interval = interval == .zero ? settings.pollInterval.lowerBound : min(settings.pollInterval.upperBound, interval * 2)
            let history: ComfyUIHistory?
            do {
                history = try await client.history(promptID: promptID)
                failures = 0
            } catch {
                failures += 1
                // A few misses in a row: the backend is gone; stop waiting and try elsewhere.
                if failures >= 3 { return .retry(TaskReason(code: "comfyui.unavailable", message: "lost contact while the run was in progress: \(error)")) }
                continue
            }
            guard let history else {
                // `/history` says `{}` both for "not yet" and "never heard of it" (a restarted server forgets
                // everything): every few seconds, make sure the server still holds the prompt.
                if ContinuousClock.now - lastSeen >= settings.presenceInterval {
                    switch await presence(promptID, client: client) {
                    case .present: lastSeen = .now
                    case .finished: interval = .zero  // look at the history again at once
                    case .unknown: break  // the server did not answer; the failure count above handles that
                    case .lost:
                        return .retry(TaskReason(code: "comfyui.lost", message: "the backend no longer knows the prompt (restarted or cleared its queue)"))
                    }
                }
                continue
            }
            switch history.outcome {
            case "execution_success":
                return await collect(history, task: task, client: client)
            case "execution_interrupted":
                if store.task(id: task.id)?.status != .running { return .abandoned }
                return .failed(TaskReason(code: "comfyui.interrupted", message: "the run was interrupted on the backend"))
            default:
                var message = "the run failed on the backend"
                if case .object(let data)? = history.error {
                    if case .string(let text)? = data["exception_message"] { message = text.trimmingCharacters(in: .whitespacesAndNewlines) }
                    if case .string(let node)? = data["node_id"], case .string(let type)? = data["node_type"] { message += " (node \(node), \(type))" }
                }
                return .failed(TaskReason(code: "comfyui.execution_error", message: message, details: history.error.map(Self.trimmed)))
            }
        }
    }

    private enum Presence { case present, finished, lost, unknown }

    /// Whether the server still has the prompt: in its queue, or (a race with the end of the run) in its history.
    private func presence(_ promptID: String, client: ComfyUIClient) async -> Presence {
        guard let queued = try? await client.queued() else { return .unknown }
        if queued.contains(promptID) { return .present }
        do {
            return try await client.history(promptID: promptID) == nil ? .lost : .finished
        } catch {
            return .unknown
        }
    }

    /// Fetches every output of the finished prompt (of `output_node` when it names some) into the output folder.
    private func collect(_ history: ComfyUIHistory, task: GenerationTask, client: ComfyUIClient) async -> Outcome {
        let saved = history.outputs.filter { $0.type == "output" }
        let chosen = saved.filter { $0.node == settings.outputNode || workflow.nodes[$0.node]?.classType == settings.outputNode }
        let outputs = chosen.isEmpty ? saved : chosen
        guard !outputs.isEmpty else {
            return .failed(TaskReason(code: "comfyui.no_output", message: "the run finished without saving an image"))
        }
        var images: [TaskImage] = []
        for (index, item) in outputs.enumerated() {
            let name = OutputFolder.name(task: task.id, index: index, source: item.filename)
            do {
                let folder = output
                try await client.view(item) { bytes in try folder.write(bytes, name: name) }
            } catch {
                output.remove(images.map(\.file))
                return .retry(TaskReason(code: "comfyui.unavailable", message: "could not fetch output \(item.filename): \(error)"))
            }
            images.append(TaskImage(file: name, node: item.node, sourceFilename: item.filename, seed: task.request.seed))
        }
        return .completed(images)
    }

    /// Removes a prompt from the backend's pending queue and interrupts it if it runs (best effort).
    private func stopOnBackend(_ client: ComfyUIClient, promptID: String) async {
        try? await client.deleteQueued(promptID: promptID)
        try? await client.interrupt(promptID: promptID)
    }

    /// ComfyUI's error data without the bulky parts (traceback, tensor reprs in current_inputs).
    static func trimmed(_ value: JSONValue) -> JSONValue {
        guard case .object(var object) = value else { return value }
        for key in ["traceback", "current_inputs", "current_outputs", "executed", "timestamp"] { object[key] = nil }
        return .object(object)
    }

    // MARK: - Health and expiry

    /// Replaces the LoRA files every backend must have (presets reloaded); when they changed, every backend is
    /// checked against `/object_info` again right away.
    public func updateLoraFiles(_ files: [String]) async {
        let changed = loraFiles.withLock { current -> Bool in
            guard current != files else { return false }
            current = files
            return true
        }
        guard changed else { return }
        pool.requestRevalidation()
        await checkBackends()
    }

    /// One round of health checks, and `/object_info` validation where needed (start-up, recovery, ineligible).
    public func checkBackends() async {
        await withTaskGroup(of: Void.self) { group in
            for backend in pool.backends {
                guard let client = clients[backend.name] else { continue }
                group.addTask { await self.check(backend.name, client: client) }
            }
        }
        wakeup.yield()
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
        do {
            let info = try await client.objectInfo()
            let problems = WorkflowValidator.problems(workflow, objectInfo: info, loraFiles: loraFiles.withLock { $0 })
            let problem = problems.isEmpty ? nil : problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; and \(problems.count - 5) more" : "")
            let was = pool.snapshot.first { $0.backend.name == name }?.state
            pool.recordValidation(name, problem: problem)
            if was?.isValidated != true || was?.ineligibleReason != problem {
                if let problem {
                    logger.error("backend cannot run the workflow", metadata: ["backend": "\(name)", "problems": "\(problem)"])
                } else {
                    logger.notice("backend ready", metadata: ["backend": "\(name)"])
                }
            }
        } catch {
            pool.recordHealth(name, ok: false, error: "GET /object_info: \(error)")
        }
    }

    private func healthLoop() async {
        while !Task.isCancelled {
            await checkBackends()
            try? await Task.sleep(for: settings.healthInterval)
        }
    }

    /// Expires tasks that waited longer than `queue_timeout`.
    public func expireWaiting() {
        let now = Date()
        let stale = state.withLock { state -> [String] in
            let ids = state.queue.waiting(longerThan: settings.queueTimeout.seconds, now: now).map(\.id)
            for id in ids {
                state.queue.remove(id: id)
                state.queuedSince[id] = nil
                state.failedOn[id] = nil
            }
            return ids
        }
        for id in stale {
            guard let expired = try? store.transition(id: id, to: .expired, { task in
                task.reason = TaskReason(code: "queue_timeout", message: "waited longer than queue.queue_timeout (\(settings.queueTimeout)) for a backend")
                task.finishedAt = now
            }) else { continue }
            observer?.taskEnded(expired, ran: nil)
            logger.warning("task expired in the queue", metadata: ["task": "\(id)"])
        }
    }

    /// Forgets tasks that ended longer than `task_retention` ago and deletes their images.
    public func removeOldTasks() {
        let old = store.removeEnded(before: Date().addingTimeInterval(-settings.taskRetention.seconds))
        guard !old.isEmpty else { return }
        let files = old.flatMap { $0.images.map(\.file) }
        output.remove(files)
        logger.info("removed ended tasks past retention", metadata: ["tasks": "\(old.count)", "files": "\(files.count)"])
    }

    private func expiryLoop() async {
        let step = min(Duration.seconds(1), settings.queueTimeout / 4)
        var lastSweep = ContinuousClock.now
        while !Task.isCancelled {
            expireWaiting()
            if ContinuousClock.now - lastSweep > min(.seconds(30), settings.taskRetention / 4) {
                removeOldTasks()
                lastSweep = .now
            }
            try? await Task.sleep(for: step)
        }
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
