import Foundation
import Logging
import PromptGateCore
import Synchronization

/// What the dispatcher reports as it works (metrics live at the edge, in the server). Never called while
/// a dispatcher lock is held.
public protocol DispatchObserver: Sendable {
    /// A task left the queue for a backend; `waited` is the time since it was queued (this attempt).
    func taskStarted(_ task: GenerationTask, waited: Duration)
    /// A task reached its terminal state; `ran` is the last attempt's run time when it ran.
    func taskEnded(_ task: GenerationTask, ran: Duration?)
    /// The store answered a claim (`claimed`, `busy`, `gone`) after `took`.
    func taskClaimed(outcome: String, took: Duration)
}

extension DispatchObserver {
    /// Claims are not watched.
    public func taskClaimed(outcome: String, took: Duration) {}
}

/// The last stage of the generate chain: takes allowed, optimized requests into the queue and runs them on
/// the ComfyUI backends with the bound workflow. Its parts, a file each: `Scheduler` (which task, which
/// backend), `TaskRun` (one attempt), `BackendMonitor` (health and eligibility), `Janitor` (expiry and
/// retention). Every state change goes through the `TaskStore`, which settles races (cancel against
/// dispatch, expiry against a retry) by refusing moves the state machine does not allow.
public final class Dispatcher: Sendable {
    /// One backend and the client that talks to it.
    public struct Target: Sendable {
        /// The backend as configured.
        public var backend: BackendPool.Backend
        /// Its HTTP client.
        public var client: ComfyUIClient
        /// The backend's WebSocket (progress, early completion); nil: `/history` polling alone.
        public var events: ComfyUIEvents?

        /// - Parameters:
        ///   - backend: the backend.
        ///   - client: its HTTP client.
        ///   - events: its WebSocket listener, if any.
        public init(backend: BackendPool.Backend, client: ComfyUIClient, events: ComfyUIEvents? = nil) {
            self.backend = backend
            self.client = client
            self.events = events
        }
    }

    /// A task as the API shows it: the stored task plus its live queue position and progress.
    public struct TaskView: Sendable {
        /// The stored task.
        public var task: GenerationTask
        /// 1-based place in the queue (queued tasks only).
        public var position: Int?
        /// 0...1; while running, the sampler's progress or an estimate from the average run time; it never
        /// decreases within an attempt.
        public var progress: Double?
        /// Why a queued task is not running: waiting out `retry_delay` after a failed attempt, or no backend
        /// can take work now (down, still being checked, or ineligible, with each backend's reason). Nil when
        /// it just waits its turn.
        public var waitingFor: TaskReason?
    }

    /// The answer to a submission.
    public struct Submission: Sendable {
        /// The task as stored.
        public var task: GenerationTask
        /// 1-based place in the queue, as `view` reports it.
        public var position: Int
        /// Seconds until it is expected to finish.
        public var estimatedSeconds: Int
    }

    /// Queue depth per priority, running and retry-waiting counts, and every backend's state.
    public struct Snapshot: Sendable {
        /// Queued tasks per priority.
        public var queued: [Priority: Int]
        /// Tasks running now.
        public var running: Int
        /// Tasks waiting out `retry_delay`.
        public var delayed: Int
        /// Every backend with its state, in configuration order.
        public var backends: [(backend: BackendPool.Backend, state: BackendPool.State)]
    }

    /// The settings it was made with.
    public let settings: DispatchSettings
    /// Where tasks live.
    public let store: any TaskStore
    /// The backends and their state.
    public let pool: BackendPool
    /// Run times measured per workflow, for estimates.
    public let estimator: RunTimeEstimator
    /// The workflow every task patches.
    public let workflow: Workflow
    /// Where request fields go in the workflow.
    public let binding: WorkflowBinding
    /// Key for run-time averages.
    public let workflowName: String
    /// Where images are written and served from.
    public let output: OutputFolder
    /// Completed results by graph (`cache`); nil when off.
    public let cache: (any ResultCache)?
    let scheduler: Scheduler
    let monitor: BackendMonitor
    let janitor: Janitor
    private let clients: [String: ComfyUIClient]
    private let events: [String: ComfyUIEvents]
    /// The waiters on task ends (`waitForEnd`), passing every report on to the metrics observer.
    private let observer: TaskEndings
    let logger: Logger
    private let wakeups: AsyncStream<Void>
    let wakeup: AsyncStream<Void>.Continuation
    /// The highest progress shown per running task and attempt (prompt id), so what a client sees never
    /// goes back when the sampler's first event replaces the time-based estimate.
    private let shownProgress = Mutex<[String: ShownProgress]>([:])

    private struct ShownProgress {
        var promptID: String
        var value: Double
        /// What was shown when the sampler's first event came: its progress fills the rest of the range.
        var base: Double?
    }

    /// - Parameters:
    ///   - settings: queue, backend and workflow settings.
    ///   - workflow: the bound workflow.
    ///   - binding: which node inputs take which request fields.
    ///   - workflowName: the key for run-time averages.
    ///   - targets: the backends, in preference order for ties.
    ///   - store: where tasks live.
    ///   - cache: completed results by graph; nil: every task runs.
    ///   - estimator: run-time averages.
    ///   - observer: metrics.
    ///   - logger: where the dispatcher logs.
    /// - Throws: when the output folder cannot be created.
    public init(
        settings: DispatchSettings, workflow: Workflow, binding: WorkflowBinding, workflowName: String,
        targets: [Target],
        store: any TaskStore = InMemoryTaskStore(), cache: (any ResultCache)? = nil,
        estimator: RunTimeEstimator = RunTimeEstimator(),
        observer: (any DispatchObserver)? = nil, logger: Logger = Logger(label: "promptgate.dispatch")
    ) throws {
        self.settings = settings
        self.workflow = workflow
        self.binding = binding
        self.workflowName = workflowName
        self.store = store
        self.cache = cache
        self.estimator = estimator
        let endings = TaskEndings(forwardingTo: observer)
        self.observer = endings
        self.logger = logger
        let output = try OutputFolder(path: settings.outputDirectory)
        self.output = output
        let pool = BackendPool(
            backends: targets.map(\.backend), failureThreshold: settings.failureThreshold,
            strategy: settings.backendStrategy)
        self.pool = pool
        let clients = Dictionary(targets.map { ($0.backend.name, $0.client) }, uniquingKeysWith: { first, _ in first })
        self.clients = clients
        events = Dictionary(
            targets.compactMap { target in target.events.map { (target.backend.name, $0) } },
            uniquingKeysWith: { first, _ in first })
        let scheduler = Scheduler(
            pool: pool, capacity: settings.maxQueueSize, agingInterval: settings.agingInterval,
            levels: settings.priorityLevels, maxConcurrent: settings.maxConcurrent, limits: settings.tenantLimits)
        self.scheduler = scheduler
        let (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (self.wakeups, self.wakeup) = (wakeups, wakeup)
        monitor = BackendMonitor(
            pool: pool, workflow: workflow, clients: clients, requirements: settings.requirements,
            interval: settings.healthInterval, revalidateInterval: settings.revalidateInterval,
            logger: logger, onChange: { wakeup.yield() })
        janitor = Janitor(
            scheduler: scheduler, pool: pool, store: store, cache: cache, output: output, settings: settings,
            observer: endings, logger: logger)
    }

    // MARK: - API

    /// Stores and queues a task; the answer comes only after the store has it (with `idempotency`, the key in the
    /// same transaction). The task records what its graph loads (`graphModels`). When the result cache holds the
    /// exact graph the task would send, the task is stored `completed` at once with those images (`cachedFrom`)
    /// and never queued.
    /// - Throws: `DispatchError` `dispatch.no_eligible_backend` (unavailable, with each backend's reason) when
    ///   every backend lacks node classes or files the workflow needs; `queue_full` (with `retryAfter`) when
    ///   `max_queue_size` tasks wait; `idempotency.duplicate` (conflict) when the key was taken meanwhile.
    public func submit(_ task: GenerationTask, idempotency: IdempotencyRecord? = nil) async throws(DispatchError)
        -> Submission
    {
        var task = task
        let graph = WorkflowPatcher.apply(
            task.request, loras: task.loras, taskID: "cache", to: workflow, binding: binding)
        task.graphModels = GraphModels(of: graph)
        if let cache {
            let key = graph.cacheKey
            task.cacheKey = key
            let now = Date()
            if let hit = await cache.cachedResult(key: key, now: now),
                hit.images.allSatisfy({ output.file(named: $0.file) != nil })
            {
                task.status = .completed
                task.images = hit.images
                task.cachedFrom = hit.taskID
                task.startedAt = now
                task.finishedAt = now
                try await insert(task, idempotency: idempotency)
                observer.taskEnded(task, ran: nil)
                return Submission(task: task, position: 0, estimatedSeconds: 0)
            }
        }
        if case .impossible(let reason) = pool.availability {
            throw DispatchError(
                code: reason.code, kind: .unavailable, message: reason.message + "; fix the backends and try again",
                retryAfter: max(1, Int(settings.healthInterval.seconds.rounded(.up))), details: reason.details)
        }
        let needs = Set(task.loras.map(\.file))
        if let reason = pool.loraRefusal(needing: needs) {
            throw DispatchError(
                code: reason.code, kind: .unavailable,
                message: reason.message + "; add the files to a backend (or leave the LoRA out) and try again",
                retryAfter: max(1, Int(settings.healthInterval.seconds.rounded(.up))), details: reason.details)
        }
        let retryAfter = max(1, Int((averageRun / Double(slots)).rounded(.up)))
        guard !scheduler.isFull else { throw .queueFull(capacity: scheduler.capacity, retryAfter: retryAfter) }
        if let tenant = task.caller, let limit = scheduler.queuedLimitReached(tenant: tenant) {
            throw .tenantQueueFull(tenant: tenant, limit: limit, retryAfter: retryAfter)
        }
        try await insert(task, idempotency: idempotency)
        let (position, running) = scheduler.enqueue(
            id: task.id, priority: task.priority, at: Date(), tenant: task.caller, needs: needs)
        wakeup.yield()
        // Runs ahead of it: the queue in front, and what is running now.
        let estimate = estimator.estimate(workflow: workflowName, position: position + running, slots: slots)
        return Submission(task: task, position: position, estimatedSeconds: estimate)
    }

    private func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(DispatchError) {
        do throws(TaskStoreError) {
            try await store.insert(task, idempotency: idempotency)
        } catch {
            throw .store(error)
        }
    }

    /// A task with its queue position and progress, or nil when there is none.
    /// - Throws: `DispatchError` 503 `store.unavailable` when the store cannot be read (not a missing task).
    public func lookup(id: String) async throws(DispatchError) -> TaskView? {
        do throws(TaskStoreError) {
            return try await store.find(id: id).map(view(of:))
        } catch {
            throw .store(error)
        }
    }

    /// A task with its queue position and progress, or nil.
    public func view(id: String) async -> TaskView? {
        guard let task = await store.task(id: id) else { return nil }
        return view(of: task)
    }

    /// A stored task with its queue position and progress.
    public func view(of task: GenerationTask) -> TaskView {
        let id = task.id
        switch task.status {
        case .queued:
            let position = scheduler.position(of: id)
            return TaskView(
                task: task, position: position, progress: 0, waitingFor: waitingFor(task, position: position))
        case .running:
            return TaskView(task: task, position: nil, progress: progress(of: task))
        case .completed:
            return TaskView(task: task, position: nil, progress: 1)
        case .failed, .cancelled, .expired:
            return TaskView(task: task, position: nil, progress: nil)
        }
    }

    /// Why a queued task is not running (see `TaskView.waitingFor`).
    private func waitingFor(_ task: GenerationTask, position: Int?) -> TaskReason? {
        if position == nil, let last = task.attemptList.last, last.outcome == "retried" {
            let why = last.reason.map { " (\($0.code): \($0.message))" } ?? ""
            return TaskReason(
                code: "dispatch.retry_delay",
                message:
                    "attempt \(last.number) on \(last.backend) failed\(why); it is queued again after queue.retry_delay",
                details: last.reason?.details)
        }
        switch pool.availability {
        case .ready: return nil
        case .waiting(let reason), .impossible(let reason): return reason
        }
    }

    /// A running task's progress: the sampler's own when the backend's WebSocket reports it (filling the range
    /// left above what was shown before its first event), else elapsed / average run time; never lower than
    /// what this attempt showed before.
    private func progress(of task: GenerationTask) -> Double {
        let promptID = task.promptID ?? ""
        let reported = task.backend.flatMap { events[$0]?.progress(promptID) }
        let elapsed = scheduler.runningSince(task.id).map { (ContinuousClock.now - $0).seconds } ?? 0
        let average = averageRun
        let estimate = min(0.95, average > 0 ? elapsed / average : 0)
        return shownProgress.withLock { shown in
            var mark =
                shown[task.id].flatMap { $0.promptID == promptID ? $0 : nil }
                ?? ShownProgress(promptID: promptID, value: 0)
            var candidate = estimate
            if let reported {
                let base = mark.base ?? mark.value
                mark.base = base
                candidate = min(0.99, base + (1 - base) * min(1, max(0, reported)))
            }
            mark.value = max(mark.value, candidate)
            shown[task.id] = mark
            return mark.value
        }
    }

    /// Waits up to `timeout` for a task to reach a terminal state and returns it as stored then; nil when it
    /// has not ended by then (or does not exist). An end stored by this dispatcher wakes the wait at once; the
    /// store is read again every `recheck` for ends stored elsewhere (another gateway).
    public func waitForEnd(id: String, upTo timeout: Duration, recheck: Duration = .seconds(1)) async
        -> GenerationTask?
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            // Subscribed before the read, so an end stored in between is not missed.
            let (end, subscription) = observer.end(of: id)
            defer { subscription.finish() }
            guard let task = await store.task(id: id) else { return nil }
            if task.status.isTerminal { return task }
            let left = deadline - ContinuousClock.now
            guard left > .zero, !Task.isCancelled else { return nil }
            let ended = await withTaskGroup(of: GenerationTask?.self) { group in
                group.addTask {
                    for await task in end { return task }
                    return nil
                }
                group.addTask {
                    try? await Task.sleep(for: min(left, recheck))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if let ended { return ended }
        }
    }

    /// A signal after every task end this dispatcher stores (coalesced), for work that follows ends: the
    /// webhook sender looks at its outbox at once instead of at its next poll.
    public func endSignals() -> AsyncStream<Void> { observer.anyEnd() }

    /// Cancels a task: a queued one leaves the queue, a running one is interrupted on its backend.
    /// - Throws: `DispatchError` `task.not_found` or `task.finished`.
    @discardableResult
    public func cancel(id: String) async throws(DispatchError) -> GenerationTask {
        guard let before = await store.task(id: id) else { throw .notFound(id) }
        guard !before.status.isTerminal else { throw .finished(before) }
        let running = scheduler.remove(id)
        let cancelled: GenerationTask
        do throws(TaskStoreError) {
            cancelled = try await store.transition(id: id, to: .cancelled) { task in
                task.reason = TaskReason(code: "cancelled", message: "cancelled by the caller")
                task.finishedAt = Date()
                task.endAttempt("cancelled", reason: task.reason, at: task.finishedAt!)
            }
        } catch {
            // It ended between the two reads.
            if let now = await store.task(id: id), now.status.isTerminal { throw .finished(now) }
            throw DispatchError(code: error.code, kind: .conflict, message: error.message)
        }
        // A run in progress reports its own end when it notices; anything else ends here.
        if !running { observer.taskEnded(cancelled, ran: nil) }
        // Interrupting now frees the GPU sooner; the attempt sees the cancel at its next poll and leaves the
        // backend alone (one queue delete, one interrupt). A queued task has nothing on a backend.
        if before.status == .running, let backend = cancelled.backend, let promptID = cancelled.promptID,
            let target = run(on: backend)
        {
            await target.stopOnBackend(promptID)
        }
        wakeup.yield()
        return cancelled
    }

    /// An image missing from the output folder (deleted, or a gateway that does not share the folder), fetched
    /// again from the backend that made it while that backend still has the file, and written back; nil when
    /// no task uses the name or no backend has it any more.
    public func refetch(_ name: String) async -> Data? {
        for task in await store.tasks(usingFile: name) {
            guard let backend = task.backend, let client = clients[backend],
                let image = task.images.first(where: { $0.file == name })
            else { continue }
            let source = ComfyUIOutput(
                node: image.node, filename: image.sourceFilename, subfolder: image.sourceSubfolder ?? "promptgate",
                type: "output")
            guard let bytes = try? await client.view(source) else { continue }
            try? output.write(bytes, name: name)
            logger.notice(
                "image fetched again from its backend", metadata: ["file": "\(name)", "backend": "\(backend)"])
            return Data(bytes)
        }
        return nil
    }

    /// Whether a backend's WebSocket is open now; nil when the dispatcher does not listen to it.
    public func isListening(to backend: String) -> Bool? { events[backend]?.isConnected }

    /// Queue depth by priority, running count and backends (for `/status` and metrics).
    public var snapshot: Snapshot {
        let counts = scheduler.counts
        return Snapshot(
            queued: counts.queued, running: counts.running, delayed: counts.delayed, backends: pool.snapshot)
    }

    /// Replaces what every backend must offer (presets reloaded); when it changed, every backend is checked
    /// against `/object_info` again right away.
    public func updateRequirements(_ requirements: BackendRequirements) async {
        await monitor.updateRequirements(requirements)
    }

    /// One round of health checks and `/object_info` validation.
    public func checkBackends() async { await monitor.checkAll() }

    /// Expires tasks that waited longer than `queue_timeout`.
    public func expireWaiting() async { await janitor.expireWaiting() }

    /// Forgets tasks that ended longer than `task_retention` ago and deletes their images.
    public func removeOldTasks() async { await janitor.removeOldTasks() }

    // MARK: - The loop

    /// Dispatches until cancelled: first takes back what the store holds (`recover`), then takes queued tasks
    /// to backends as slots free up, beside the backend monitor, the janitor and the WebSocket listeners (and,
    /// on a shared store, the `Gateways` work: heartbeat, takeover, the queue's notices). Runs in flight when
    /// it is cancelled are left as they are, stored as `running` with their backend and `prompt_id`, for the
    /// next start (or another gateway) to reconcile; on a shared store their leases are released, so another
    /// gateway follows them at once.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.monitor.run() }
            group.addTask { await self.janitor.run() }
            for socket in events.values { group.addTask { await socket.run(logger: self.logger) } }
            if let shared = store as? any SharedTaskStore {
                group.addTask { await self.keepLeases(shared) }
                group.addTask { await self.followQueue(shared) }
            }
            for (task, start) in await recover() {
                group.addTask { await self.execute(start, resuming: task) }
            }
            wakeup.yield()
            for await _ in wakeups {
                while let start = scheduler.next() {
                    group.addTask { await self.execute(start) }
                }
            }
            group.cancelAll()
        }
        if let shared = store as? any SharedTaskStore {
            // This task is cancelled (shutting down); the release runs in one of its own, which is not.
            await Task { await shared.releaseLeases() }.value
        }
    }

    /// What the store holds at start, taken back: queued tasks re-enter the queue in their order and priority,
    /// aging from when they were accepted; each running one is followed on its backend by its stored
    /// `prompt_id` (`TaskRun.resume`), or queued again as a new attempt when its backend is no longer configured.
    /// - Returns: the runs to follow, their backend slots taken.
    func recover() async -> [(GenerationTask, Scheduler.Start)] {
        let began = ContinuousClock.now
        let queued = await store.queueEntries()
        if store is any SharedTaskStore {
            // Another gateway's task waiting out its retry delay is not taken before its time.
            scheduler.sync(queued, readBegan: began)
        } else {
            scheduler.enqueue(queued)
        }
        // On a shared store, only the runs this gateway's name held and those whose gateway died are ours.
        let running =
            if let shared = store as? any SharedTaskStore {
                await shared.takeOverRuns(includingOwn: true)
            } else {
                await store.tasks(in: .running)
            }
        let (resumed, requeued) = await adopt(running)
        if !queued.isEmpty || !resumed.isEmpty || requeued > 0 {
            logger.notice(
                "recovered tasks from the store",
                metadata: ["queued": "\(queued.count)", "following": "\(resumed.count)", "requeued": "\(requeued)"])
        }
        return resumed
    }

    /// Runs found on backends (after a restart, or taken over from a gateway that died), each followed by its
    /// stored `prompt_id` (`TaskRun.resume`) or, when its backend is no longer configured, queued again as a new
    /// attempt.
    /// - Returns: the runs to follow, their backend slots taken, and how many were queued again.
    func adopt(_ running: [GenerationTask]) async -> (follow: [(GenerationTask, Scheduler.Start)], requeued: Int) {
        var resumed: [(GenerationTask, Scheduler.Start)] = []
        var requeued = 0
        for task in running {
            if let backend = task.backend, task.promptID != nil,
                let start = scheduler.adopt(task.id, on: backend, tenant: task.caller)
            {
                resumed.append((task, start))
                continue
            }
            let reason = TaskReason(
                code: "dispatch.requeued", message: "its backend \(task.backend ?? "?") is no longer configured")
            if (try? await store.transition(id: task.id, to: .queued, { $0.endAttempt("retried", reason: reason) }))
                != nil
            {
                _ = scheduler.enqueue(id: task.id, priority: task.priority, at: task.createdAt, tenant: task.caller)
                requeued += 1
            }
        }
        return (resumed, requeued)
    }

    /// One attempt, from the move to `running` (or, `resuming`, a run already on its backend after a restart)
    /// to the outcome recorded in the store.
    func execute(_ start: Scheduler.Start, resuming: GenerationTask? = nil) async {
        var start = start
        var id = start.id
        var backend = start.backend
        let began = ContinuousClock.now
        var ended = true
        var gaveBack = false
        defer {
            if !gaveBack {
                scheduler.finish(id, on: backend.name, ended: ended)
                shownProgress.withLock { _ = $0.removeValue(forKey: id) }
                wakeup.yield()
            }
        }
        let task: GenerationTask
        if let resuming {
            task = resuming
        } else {
            switch await claim(start) {
            case .claimed(let claimed):
                task = claimed
                if claimed.id != id {
                    // Another gateway was taking the picked task; the store gave this one of the same tenant.
                    start = scheduler.claimedInstead(start, claimed: claimed.id)
                    id = claimed.id
                }
                if let name = claimed.backend, name != backend.name, let chosen = pool.backend(named: name) {
                    scheduler.moveSlot(from: backend.name, to: name)
                    backend = chosen
                }
            case .busy:
                // No room across the gateways: back in its place until capacity frees (a run ends here or
                // elsewhere), without waking the loop to pick it again at once.
                scheduler.giveBack(start)
                gaveBack = true
                return
            case .gone:
                // Cancelled while it was being picked, or taken by another gateway.
                if let now = await store.task(id: id), now.status == .cancelled { observer.taskEnded(now, ran: nil) }
                return
            }
            observer.taskStarted(task, waited: start.waited)
        }
        guard let attempt = run(on: backend.name), let promptID = task.promptID else { return }
        let outcome =
            resuming == nil
            ? await attempt.run(task, promptID: promptID) : await attempt.resume(task, promptID: promptID)
        let ran = ContinuousClock.now - began
        switch outcome {
        case .completed(let images):
            await complete(id, images: images, ran: ran, backend: backend.name)
        case .failed(let reason):
            await fail(id, reason: reason, ran: ran, backend: backend.name)
        case .backendLacks(let reason, let problem):
            // The backend refused a file the workflow or a preset needs: its fault, not the caller's.
            logger.error(
                "backend refused a model file; marked ineligible",
                metadata: ["backend": "\(backend.name)", "code": "\(problem.code)", "problems": "\(problem.message)"])
            pool.markIneligible(backend.name, reason: problem)
            let name = backend.name
            Task { await self.monitor.revalidate(name) }
            ended = await retryOrGiveUp(task, after: reason, ran: ran, backend: backend.name)
        case .retry(let reason):
            ended = await retryOrGiveUp(task, after: reason, ran: ran, backend: backend.name)
        case .abandoned:
            if let now = await store.task(id: id), now.status == .cancelled { observer.taskEnded(now, ran: ran) }
        }
    }

    /// Another attempt after `retry_delay`, or, past `max_retries`, the end; returns whether the task ended.
    private func retryOrGiveUp(_ task: GenerationTask, after reason: TaskReason, ran: Duration, backend: String)
        async -> Bool
    {
        guard task.attempts <= settings.maxRetries else {
            let attempts = "\(task.attempts) attempt\(task.attempts == 1 ? "" : "s")"
            let final = TaskReason(
                code: reason.code, message: "gave up after \(attempts): \(reason.message)", details: reason.details)
            await fail(task.id, reason: final, ran: ran, backend: backend)
            return true
        }
        return !(await retry(task.id, after: reason, failedOn: backend))
    }

    private func complete(_ id: String, images: [TaskImage], ran: Duration, backend: String) async {
        do {
            let done = try await store.transition(id: id, to: .completed) { task in
                task.images = images
                task.reason = nil
                task.finishedAt = Date()
                task.endAttempt("completed", reason: nil, at: task.finishedAt!)
            }
            estimator.record(workflow: workflowName, seconds: ran.seconds)
            if let cache, let key = done.cacheKey, !images.isEmpty {
                let expires = Date().addingTimeInterval(settings.cache.ttl.seconds)
                await cache.storeResult(CachedResult(taskID: id, images: images, expiresAt: expires), key: key)
            }
            observer.taskEnded(done, ran: ran)
            logger.info(
                "task completed",
                metadata: [
                    "task": "\(id)", "backend": "\(backend)", "seconds": "\(ran.seconds)", "images": "\(images.count)",
                ])
        } catch {
            // Cancelled while the images were fetched; files a stored task names stay (another gateway that took
            // the run over may have completed it with the same files).
            let kept = Set((await store.task(id: id))?.images.map(\.file) ?? [])
            output.remove(images.map(\.file).filter { !kept.contains($0) })
        }
    }

    private func fail(_ id: String, reason: TaskReason, ran: Duration, backend: String) async {
        let failed = try? await store.transition(id: id, to: .failed) { task in
            task.reason = reason
            task.finishedAt = Date()
            task.endAttempt("failed", reason: reason, at: task.finishedAt!)
        }
        guard let failed else { return }
        observer.taskEnded(failed, ran: ran)
        logger.warning(
            "task failed",
            metadata: [
                "task": "\(id)", "backend": "\(backend)", "code": "\(reason.code)", "error": "\(reason.message)",
            ])
    }

    /// The store's claim of a picked task: the reserved backend first, then every other available one (a shared
    /// store may find the first full with other gateways' runs), with the tenant's `max_running`.
    private func claim(_ start: Scheduler.Start) async -> ClaimOutcome {
        let others = pool.snapshot.filter { $0.state.isAvailable && $0.backend.name != start.backend.name }
        let slots = ([start.backend] + others.map(\.backend)).map {
            ClaimSlot(backend: $0.name, maxInFlight: $0.maxInFlight)
        }
        let tenantLimit = start.entry?.tenant.flatMap { settings.tenantLimits[$0]?.maxRunning }
        let began = ContinuousClock.now
        do {
            let outcome = try await store.claim(
                start.id, or: start.alternatives.map(\.id), on: slots, tenantLimit: tenantLimit
            ) { task, backend in task.beginAttempt(on: backend) }
            let name =
                switch outcome {
                case .claimed: "claimed"
                case .busy: "busy"
                case .gone: "gone"
                }
            observer.taskClaimed(outcome: name, took: ContinuousClock.now - began)
            scheduler.claimAnswered(busy: name == "busy")
            return outcome
        } catch {
            scheduler.claimAnswered(busy: true)
            logger.error("could not claim a task", metadata: ["task": "\(start.id)", "error": "\(error.message)"])
            return .busy(error.message)
        }
    }

    /// Back to the queue after `retry_delay`, avoiding the backend that failed while another is available.
    /// Returns whether the task is waiting for its retry.
    private func retry(_ id: String, after reason: TaskReason, failedOn backend: String) async -> Bool {
        // Held before the store says `queued`, so a cancel in between finds it and takes it out.
        scheduler.holdForRetry(id, failedOn: backend)
        let retryAt = Date().addingTimeInterval(settings.retryDelay.seconds)
        guard
            let waiting = try? await store.transition(
                id: id, to: .queued,
                { task in
                    task.endAttempt("retried", reason: reason)
                    task.retryAt = retryAt
                })
        else {
            scheduler.remove(id)
            return false
        }
        logger.notice(
            "task will be retried", metadata: ["task": "\(id)", "backend": "\(backend)", "error": "\(reason.message)"])
        let delay = settings.retryDelay
        Task {
            try? await Task.sleep(for: delay)
            // Cancelled meanwhile: `cancel` took it out of the held set.
            if self.scheduler.requeue(id, priority: waiting.priority, at: Date(), tenant: waiting.caller) {
                self.wakeup.yield()
            }
        }
        return true
    }

    /// The attempt runner for a backend.
    private func run(on backend: String) -> TaskRun? {
        guard let client = clients[backend] else { return nil }
        return TaskRun(
            settings: settings, workflow: workflow, binding: binding, store: store, output: output, client: client,
            events: events[backend], requirements: monitor.requirementsNow)
    }

    /// Slots that can run work now, for estimates.
    private var slots: Int { max(1, min(settings.maxConcurrent, pool.availableSlots)) }

    private var averageRun: Double { estimator.average(workflow: workflowName) }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
