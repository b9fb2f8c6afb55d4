import Foundation
import Synchronization

/// Where tasks live, with the idempotency keys that created them. Every state change goes through
/// `transition`, which refuses moves the state machine (`TaskStatus.canMove(to:)`) does not allow. The protocol
/// is async, so a database-backed store does its I/O off the cooperative pool: `SQLiteTaskStore` is the
/// default, `PostgresTaskStore` serves `store.url`, `InMemoryTaskStore` serves tests. Every store runs the same
/// contract tests.
public protocol TaskStore: Sendable {
    /// Stores a new task, and with it the idempotency key it was submitted under, in one step.
    /// - Throws: `task.duplicate` when the id exists, `idempotency.duplicate` when the key was taken meanwhile.
    func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(TaskStoreError)
    /// The task with this id, or nil.
    func task(id: String) async -> GenerationTask?
    /// The task with this id, or nil when there is none; unlike `task(id:)`, a store that cannot be read says so.
    /// - Throws: `store.unavailable`.
    func find(id: String) async throws(TaskStoreError) -> GenerationTask?
    /// Moves a task to `status`, letting `update` record details (backend, reason, times) in the same step.
    /// - Returns: the task as stored after the move.
    /// - Throws: `task.not_found`, or `task.invalid_transition` for a move the state machine refuses.
    @discardableResult
    func transition(
        id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void
    ) async throws(TaskStoreError) -> GenerationTask
    /// Takes a queued task for an attempt: moves it to `running` on the first of `slots` with room, `begin`
    /// opening the attempt on that backend. A store only this process uses trusts the dispatcher's own counts
    /// (the first slot is taken, `alternatives` are not needed); a shared store counts every gateway's runs on
    /// each backend and of the tenant (`tenantLimit`, its `max_running`), and when another gateway is taking
    /// `id` at that moment, claims the first of `alternatives` (tasks of the same tenant) still free instead.
    /// - Returns: `.claimed` with the task as stored (its id says which), `.busy` when no slot has room,
    ///   `.gone` when the task is not queued any more.
    /// - Throws: `store.unavailable`.
    func claim(
        _ id: String, or alternatives: [String], on slots: [ClaimSlot], tenantLimit: Int?,
        _ begin: @Sendable (inout GenerationTask, String) -> Void
    ) async throws(TaskStoreError) -> ClaimOutcome
    /// Tasks in a status, oldest first (for recovery and metrics).
    func tasks(in status: TaskStatus) async -> [GenerationTask]
    /// The queued tasks as queue entries (id, priority, acceptance time, tenant), oldest first: what a restart needs to
    /// rebuild the queue, without reading whole tasks.
    func queueEntries() async -> [TaskQueue.Entry]
    /// A page of tasks, newest first: those of `caller` (nil: everyone's), in `status` (nil: any), older than
    /// `cursor` (nil: from the newest).
    /// - Throws: `store.unavailable` when a database store cannot be read (an empty page would say "none").
    func page(caller: String?, status: TaskStatus?, after cursor: TaskCursor?, limit: Int) async throws(TaskStoreError)
        -> [GenerationTask]
    /// The tasks whose images include the file `name` (a cached result shares its files).
    func tasks(usingFile name: String) async -> [GenerationTask]
    /// Forgets tasks that ended before `cutoff` (retention), with the idempotency keys older than
    /// `IdempotencyRecord.lifetime`; returns the tasks and the files no remaining task uses.
    func removeEnded(before cutoff: Date) async -> RemovedTasks
    /// The idempotency record for `key` in `scope`, if it is younger than `IdempotencyRecord.lifetime`.
    func idempotencyRecord(scope: String, key: String) async -> IdempotencyRecord?
    /// Records the answer the request that created the key's task got.
    func saveIdempotentResponse(scope: String, key: String, response: String) async
    /// Claims up to `limit` pending webhook messages due by `now`, oldest due first: each one's next attempt
    /// moves `lease` ahead in the same step, so no other sender takes it while this one tries, and one whose
    /// sender died is due again when the lease lapses.
    func claimWebhooks(dueBy now: Date, lease: Duration, limit: Int) async -> [WebhookDelivery]
    /// Stores a message after an attempt (its status, next attempt and attempt log).
    func updateWebhook(_ delivery: WebhookDelivery) async
    /// A task's webhook messages, oldest first.
    func webhooks(of taskID: String) async -> [WebhookDelivery]
    /// Waits until the store can be used (a database server answers, its schema is current) and takes what
    /// the process needs of it; a gateway calls it once before it serves.
    /// - Throws: `TaskStoreError` saying why the store cannot be used.
    func prepare() async throws(TaskStoreError)
}

extension TaskStore {
    /// A store in this process, or a file it opened: what `task(id:)` answers.
    public func find(id: String) async throws(TaskStoreError) -> GenerationTask? { await task(id: id) }

    /// Nothing to wait for (a store in this process or a file it opened).
    public func prepare() async throws(TaskStoreError) {}

    /// The first slot, through `transition`: the dispatcher's own counts are all there is.
    public func claim(
        _ id: String, or alternatives: [String], on slots: [ClaimSlot], tenantLimit: Int?,
        _ begin: @Sendable (inout GenerationTask, String) -> Void
    ) async throws(TaskStoreError) -> ClaimOutcome {
        guard let backend = slots.first?.backend else { return .busy("no backend offered") }
        do {
            return .claimed(try await transition(id: id, to: .running) { begin(&$0, backend) })
        } catch  where error.code == "task.not_found" || error.code == "task.invalid_transition" {
            return .gone
        }
    }

    /// Stores a new task submitted without an idempotency key.
    /// - Throws: `task.duplicate` when the id exists.
    public func insert(_ task: GenerationTask) async throws(TaskStoreError) {
        try await insert(task, idempotency: nil)
    }
}

/// Where a page of `TaskStore.page` ends: the last task's creation time and id (ids break ties).
public struct TaskCursor: Sendable, Equatable {
    /// The last task's `createdAt`.
    public var createdAt: Date
    /// The last task's id.
    public var id: String

    /// A cursor after `task`.
    public init(after task: GenerationTask) {
        createdAt = task.createdAt
        id = task.id
    }

    /// The cursor as it travels in a URL: `<seconds since 1970>_<id>`.
    public var token: String { "\(createdAt.timeIntervalSince1970)_\(id)" }

    /// A cursor from its URL form; nil when it is not one.
    public init?(token: String) {
        let parts = token.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let seconds = Double(parts[0]), seconds.isFinite, !parts[1].isEmpty else { return nil }
        createdAt = Date(timeIntervalSince1970: seconds)
        id = String(parts[1])
    }

    /// Whether `task` comes after the cursor, newest first.
    func precedes(_ task: GenerationTask) -> Bool {
        task.createdAt < createdAt || (task.createdAt == createdAt && task.id < id)
    }
}

/// A store operation that cannot be done.
public struct TaskStoreError: Error, Equatable, Sendable {
    /// `task.not_found`, `task.invalid_transition`, `task.duplicate`, `store.unavailable`.
    public var code: String
    /// What went wrong, with the task id.
    public var message: String

    static func notFound(_ id: String) -> TaskStoreError {
        TaskStoreError(code: "task.not_found", message: "no task \(id)")
    }

    static func duplicate(_ id: String) -> TaskStoreError {
        TaskStoreError(code: "task.duplicate", message: "task \(id) exists already")
    }

    static func duplicateKey(_ key: String) -> TaskStoreError {
        TaskStoreError(code: "idempotency.duplicate", message: "idempotency key \(key) was used meanwhile")
    }

    /// The database failed (disk full, file gone): nothing was changed.
    static func unavailable(_ error: any Error) -> TaskStoreError {
        TaskStoreError(code: "store.unavailable", message: "the task store failed: \(error)")
    }
}

extension GenerationTask {
    /// The task moved to `status` with `update` applied: the one check every store makes.
    /// - Throws: `task.invalid_transition` for a move the state machine refuses.
    func moved(to status: TaskStatus, _ update: (inout GenerationTask) -> Void) throws(TaskStoreError)
        -> GenerationTask
    {
        guard self.status.canMove(to: status) else {
            throw TaskStoreError(
                code: "task.invalid_transition",
                message: "task \(id) cannot go from \(self.status.rawValue) to \(status.rawValue)")
        }
        var task = self
        task.status = status
        update(&task)
        return task
    }
}

/// Tasks in memory, behind one lock: gone on restart (tests).
public final class InMemoryTaskStore: TaskStore {
    private struct State {
        var tasks: [String: GenerationTask] = [:]
        var keys: [String: IdempotencyRecord] = [:]
        var webhooks: [String: WebhookDelivery] = [:]
    }

    private let state = Mutex(State())

    /// An empty store.
    public init() {}

    /// Adds a task (and its idempotency key); refuses an id or a key already stored.
    public func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) throws(TaskStoreError) {
        let refused = state.withLock { state -> TaskStoreError? in
            guard state.tasks[task.id] == nil else { return .duplicate(task.id) }
            if let idempotency {
                let slot = idempotency.scope + "\u{0}" + idempotency.key
                guard state.keys[slot] == nil else { return .duplicateKey(idempotency.key) }
                state.keys[slot] = idempotency
            }
            state.tasks[task.id] = task
            if let message = WebhookDelivery.created(movingFrom: nil, to: task) { state.webhooks[message.id] = message }
            return nil
        }
        if let refused { throw refused }
    }

    /// The task with `id`, if stored.
    public func task(id: String) -> GenerationTask? { state.withLock { $0.tasks[id] } }

    /// Changes a task in place, refusing a status change the task may not make.
    @discardableResult
    public func transition(id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void)
        throws(TaskStoreError) -> GenerationTask
    {
        let result: Result<GenerationTask, TaskStoreError> = state.withLock { state in
            guard let task = state.tasks[id] else { return .failure(.notFound(id)) }
            let moved = Result { () throws(TaskStoreError) in try task.moved(to: status, update) }
            if case .success(let moved) = moved {
                state.tasks[id] = moved
                if let message = WebhookDelivery.created(movingFrom: task.status, to: moved) {
                    state.webhooks[message.id] = message
                }
            }
            return moved
        }
        return try result.get()
    }

    /// Removes the tasks that ended before `cutoff` and the expired idempotency keys.
    public func removeEnded(before cutoff: Date) -> RemovedTasks {
        state.withLock { state in
            let old = state.tasks.values.filter { $0.status.isTerminal && ($0.finishedAt ?? $0.createdAt) < cutoff }
            for task in old { state.tasks[task.id] = nil }
            let removed = Set(old.map(\.id))
            state.webhooks = state.webhooks.filter { !removed.contains($0.value.taskID) }
            let keysCutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds)
            state.keys = state.keys.filter { $0.value.createdAt >= keysCutoff }
            let used = Set(state.tasks.values.flatMap { $0.images.map(\.file) })
            let files = Set(old.flatMap { $0.images.map(\.file) }).subtracting(used)
            return RemovedTasks(tasks: old, unusedFiles: files.sorted())
        }
    }

    /// Every task in `status`.
    public func tasks(in status: TaskStatus) -> [GenerationTask] {
        state.withLock { $0.tasks.values.filter { $0.status == status }.sorted { $0.createdAt < $1.createdAt } }
    }

    /// The queued tasks' entries, oldest first.
    public func queueEntries() -> [TaskQueue.Entry] {
        tasks(in: .queued).map(\.queueEntry)
    }

    /// A page of tasks, newest first.
    public func page(caller: String?, status: TaskStatus?, after cursor: TaskCursor?, limit: Int) -> [GenerationTask] {
        state.withLock { state in
            state.tasks.values
                .filter { task in
                    (caller == nil || task.caller == caller) && (status == nil || task.status == status)
                        && (cursor?.precedes(task) ?? true)
                }
                .sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id > $1.id }
                .prefix(limit).map { $0 }
        }
    }

    /// The tasks whose images include `name`.
    public func tasks(usingFile name: String) -> [GenerationTask] {
        state.withLock { $0.tasks.values.filter { $0.images.contains { $0.file == name } } }
    }

    /// The record for `key` in `scope`, while it lives.
    public func idempotencyRecord(scope: String, key: String) -> IdempotencyRecord? {
        let cutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds)
        return state.withLock { $0.keys[scope + "\u{0}" + key] }.flatMap { $0.createdAt >= cutoff ? $0 : nil }
    }

    /// Records the first answer for `key`.
    public func saveIdempotentResponse(scope: String, key: String, response: String) {
        state.withLock { $0.keys[scope + "\u{0}" + key]?.response = response }
    }

    /// Claims due pending messages, pushing each one's next attempt `lease` ahead.
    public func claimWebhooks(dueBy now: Date, lease: Duration, limit: Int) -> [WebhookDelivery] {
        state.withLock { state in
            var due: [(at: Date, message: WebhookDelivery)] = []
            for message in state.webhooks.values where message.status == .pending {
                if let at = message.nextAttemptAt, at <= now { due.append((at, message)) }
            }
            due.sort { $0.at != $1.at ? $0.at < $1.at : $0.message.id < $1.message.id }
            return due.prefix(limit).map(\.message).map { message in
                var claimed = message
                claimed.nextAttemptAt = now.addingTimeInterval(lease.seconds)
                state.webhooks[message.id] = claimed
                return claimed
            }
        }
    }

    /// Replaces a message (after an attempt); a message whose task is gone stays gone.
    public func updateWebhook(_ delivery: WebhookDelivery) {
        state.withLock { state in
            if state.webhooks[delivery.id] != nil { state.webhooks[delivery.id] = delivery }
        }
    }

    /// A task's messages, oldest first.
    public func webhooks(of taskID: String) -> [WebhookDelivery] {
        state.withLock { state in
            state.webhooks.values.filter { $0.taskID == taskID }
                .sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id < $1.id }
        }
    }
}
