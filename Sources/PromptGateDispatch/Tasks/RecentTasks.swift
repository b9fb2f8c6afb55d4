import Synchronization

/// The tasks a store wrote last, decoded, so the hot reads (a run checking its task at every poll, a client
/// polling `GET /task`) skip the database and the JSON decoding. Written under the store's serialized writer,
/// so entries follow the order of commits; bounded (the least recently written go first), so a queue of
/// 100,000 does not live in memory twice. Only for a store that is the only writer of its database.
final class RecentTasks: Sendable {
    private struct State {
        /// Each task with the number of its last write.
        var tasks: [String: (task: GenerationTask, write: Int)] = [:]
        /// Writes in order; an entry whose number is not its task's last write is stale and skipped.
        var order: [(id: String, write: Int)] = []
        var head = 0
        var writes = 0
    }

    /// The most tasks kept.
    let capacity: Int
    private let state = Mutex(State())

    /// A cache of at most `capacity` tasks.
    init(capacity: Int = 4096) { self.capacity = max(1, capacity) }

    /// The task as last written, if it is still kept.
    func task(id: String) -> GenerationTask? { state.withLock { $0.tasks[id]?.task } }

    /// Records a task as written.
    func put(_ task: GenerationTask) {
        state.withLock { state in
            state.writes += 1
            state.tasks[task.id] = (task, state.writes)
            state.order.append((task.id, state.writes))
            while state.tasks.count > capacity, state.head < state.order.count {
                let oldest = state.order[state.head]
                state.head += 1
                if state.tasks[oldest.id]?.write == oldest.write { state.tasks[oldest.id] = nil }
            }
            if state.head > capacity {
                state.order.removeFirst(state.head)
                state.head = 0
            }
            // Rewrites of the same tasks leave stale entries behind: drop them once they dominate.
            if state.order.count - state.head > 4 * capacity {
                let live = state.tasks
                state.order = state.order[state.head...].filter { live[$0.id]?.write == $0.write }
                state.head = 0
            }
        }
    }

    /// Forgets tasks (deleted, or a write that did not commit).
    func remove(_ ids: some Sequence<String>) {
        state.withLock { state in
            for id in ids { state.tasks[id] = nil }
        }
    }
}
