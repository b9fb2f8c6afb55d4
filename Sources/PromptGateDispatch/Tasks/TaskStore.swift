import Foundation
import Synchronization

/// Where tasks live. Every state change goes through `transition`, which refuses moves the state machine
/// (`TaskStatus.canMove(to:)`) does not allow. The protocol is async, so a database-backed store can do
/// its I/O without blocking the cooperative pool; `InMemoryTaskStore` is the implementation today.
public protocol TaskStore: Sendable {
    /// Stores a new task.
    /// - Throws: `task.duplicate` when the id exists.
    func insert(_ task: GenerationTask) async throws(TaskStoreError)
    /// The task with this id, or nil.
    func task(id: String) async -> GenerationTask?
    /// Moves a task to `status`, letting `update` record details (backend, reason, times) in the same step.
    /// - Returns: the task as stored after the move.
    /// - Throws: `task.not_found`, or `task.invalid_transition` for a move the state machine refuses.
    @discardableResult
    func transition(
        id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void
    ) async throws(TaskStoreError) -> GenerationTask
    /// Tasks in a status, oldest first (for recovery and metrics).
    func tasks(in status: TaskStatus) async -> [GenerationTask]
    /// Forgets tasks that ended before `cutoff` (retention); returns them so their files can go too.
    func removeEnded(before cutoff: Date) async -> [GenerationTask]
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

/// Tasks in memory, behind one lock: gone on restart.
public final class InMemoryTaskStore: TaskStore {
    private let state = Mutex<[String: GenerationTask]>([:])

    /// An empty store.
    public init() {}

    /// Adds a task; refuses an id already stored.
    public func insert(_ task: GenerationTask) throws(TaskStoreError) {
        let inserted = state.withLock { tasks -> Bool in
            guard tasks[task.id] == nil else { return false }
            tasks[task.id] = task
            return true
        }
        if !inserted { throw .duplicate(task.id) }
    }

    /// The task with `id`, if stored.
    public func task(id: String) -> GenerationTask? { state.withLock { $0[id] } }

    /// Changes a task in place, refusing a status change the task may not make.
    @discardableResult
    public func transition(id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void)
        throws(TaskStoreError) -> GenerationTask
    {
        let result: Result<GenerationTask, TaskStoreError> = state.withLock { tasks in
            guard let task = tasks[id] else { return .failure(.notFound(id)) }
            let moved = Result { () throws(TaskStoreError) in try task.moved(to: status, update) }
            if case .success(let task) = moved { tasks[id] = task }
            return moved
        }
        return try result.get()
    }

    /// Removes and returns the tasks that ended before `cutoff`.
    public func removeEnded(before cutoff: Date) -> [GenerationTask] {
        state.withLock { tasks in
            let old = tasks.values.filter { $0.status.isTerminal && ($0.finishedAt ?? $0.createdAt) < cutoff }
            for task in old { tasks[task.id] = nil }
            return old
        }
    }

    /// Every task in `status`.
    public func tasks(in status: TaskStatus) -> [GenerationTask] {
        state.withLock { $0.values.filter { $0.status == status }.sorted { $0.createdAt < $1.createdAt } }
    }
}
