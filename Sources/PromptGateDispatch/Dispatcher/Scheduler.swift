import Foundation
import PromptGateCore
import Synchronization

/// Which task runs next, and where: the aging priority queue (tenants taking turns within a level), the
/// running set with each tenant's count against its `max_running`, the retry bookkeeping (backends a task
/// failed on, tasks waiting out `retry_delay`), and the slot choice on the backend pool.
///
/// Concurrency: everything sits behind one `Mutex`; the pool has its own lock, taken inside this one and
/// never the other way round. Nothing here calls out (no store, no observer) while holding the lock.
final class Scheduler: Sendable {
    /// A task taken from the queue, with the backend slot reserved for it.
    struct Start: Sendable {
        var id: String
        var backend: BackendPool.Backend
        /// Time since it entered the queue (this attempt).
        var waited: Duration
        /// Its queue entry, to give it back when a shared store finds no room for it (nil: adopted run).
        var entry: TaskQueue.Entry? = nil
        /// The tasks of the same tenant queued right after it: a shared store claims the first of them still
        /// free when another gateway is taking this one (`FOR UPDATE SKIP LOCKED`).
        var alternatives: [TaskQueue.Entry] = []
    }

    /// Queue depth per priority and the running and retry-waiting counts.
    struct Counts: Sendable {
        var queued: [Priority: Int]
        var running: Int
        var delayed: Int
    }

    private struct State {
        var queue: TaskQueue
        /// Running task id → when its attempt started.
        var running: [String: ContinuousClock.Instant] = [:]
        /// Running task id → its tenant, and running tasks per tenant.
        var runningTenant: [String: String?] = [:]
        var runningPerTenant: [String?: Int] = [:]
        /// Task id → backends its attempts failed on.
        var failedOn: [String: Set<String>] = [:]
        /// Task id → the LoRA files it needs, for tasks that need some (only backends having them take it).
        var needs: [String: Set<String>] = [:]
        /// Task ids waiting out `retry_delay` before they are queued again.
        var delayed: Set<String> = []
        /// When each queued task entered the queue (wait histogram).
        var queuedSince: [String: ContinuousClock.Instant] = [:]
        /// Claims sent to the store and not answered yet.
        var claiming = 0
        /// A shared store answered `busy` (no room across the gateways): claims go one at a time until the next
        /// full sync of the queue, so gateways do not all claim at every freed slot.
        var contended = false
        /// After a `busy`, nothing is picked until capacity may have been freed (a run ended here or elsewhere).
        var heldOff = false
    }

    let pool: BackendPool
    let maxConcurrent: Int
    /// Per tenant name: `max_running` and `max_queued`.
    let limits: [String: TenantLimits]
    private let state: Mutex<State>

    init(
        pool: BackendPool, capacity: Int, agingInterval: Double, levels: Int = 3, maxConcurrent: Int,
        limits: [String: TenantLimits] = [:]
    ) {
        self.pool = pool
        self.maxConcurrent = maxConcurrent
        self.limits = limits
        state = Mutex(State(queue: TaskQueue(capacity: capacity, agingInterval: agingInterval, levels: levels)))
    }

    /// The queue's capacity (`max_queue_size`).
    var capacity: Int { state.withLock { $0.queue.capacity } }

    /// Whether a new task would be refused.
    var isFull: Bool { state.withLock { $0.queue.isFull } }

    /// Queues a task that is already stored (the caller checked `isFull` before storing it; submissions
    /// racing past that check may exceed the capacity by their number, never dropping a stored task).
    /// - Returns: its 1-based position and the number of tasks running now.
    func enqueue(id: String, priority: Priority, at time: Date, tenant: String?, needs: Set<String> = [])
        -> (position: Int, running: Int)
    {
        state.withLock { state in
            state.queue.forcePush(id: id, priority: priority, at: time, tenant: tenant)
            if !needs.isEmpty { state.needs[id] = needs }
            state.queuedSince[id] = .now
            return (state.queue.position(of: id) ?? state.queue.count, state.running.count)
        }
    }

    /// Queues stored tasks in bulk, oldest first (a restart), under one lock.
    func enqueue(_ entries: [TaskQueue.Entry]) {
        state.withLock { state in
            let now = ContinuousClock.now
            for entry in entries {
                state.queue.forcePush(
                    id: entry.id, priority: entry.priority, at: entry.enqueuedAt, tenant: entry.tenant)
                state.queuedSince[entry.id] = now
            }
        }
    }

    /// Whether `max_queued` lets `tenant` queue one more task; nil when it does, else its limit.
    func queuedLimitReached(tenant: String?) -> Int? {
        guard let tenant, let limit = limits[tenant]?.maxQueued else { return nil }
        return state.withLock { $0.queue.count(tenant: tenant) } >= limit ? limit : nil
    }

    /// The next queued task and the backend it goes to, with the slot reserved; nil when nothing can start.
    /// Usually the head of the queue goes (the next tenant in turn that is under its `max_running`); only tasks
    /// that failed somewhere may need to look further.
    func next() -> Start? {
        state.withLock { state -> Start? in
            guard state.running.count < maxConcurrent, !state.heldOff, !(state.contended && state.claiming > 0) else {
                return nil
            }
            let counts = state.runningPerTenant
            let allowed: (String?) -> Bool = { tenant in
                guard let tenant, let cap = self.limits[tenant]?.maxRunning else { return true }
                return (counts[tenant] ?? 0) < cap
            }
            guard let head = state.queue.first(allowing: allowed) else { return nil }
            // Tasks that failed somewhere or need LoRA files not every backend has may not fit where others do.
            let failedOn = state.failedOn, needs = state.needs
            let picky: (String) -> Bool = { failedOn[$0] != nil || needs[$0] != nil }
            let candidates = !picky(head.id) ? [head] : state.queue.ordered().filter { allowed($0.tenant) }
            for entry in candidates {
                guard
                    let backend = pool.acquire(
                        avoiding: state.failedOn[entry.id] ?? [], needing: state.needs[entry.id] ?? [])
                else {
                    // Nothing has room for a task without history or needs either: stop looking.
                    if !picky(entry.id) { return nil }
                    continue
                }
                // Read while the picked task is still in its line (the ones right after it).
                let alternatives = state.queue.following(entry, upTo: Self.alternatives).filter {
                    state.failedOn[$0.id] == nil
                }
                state.queue.take(id: entry.id)
                state.running[entry.id] = .now
                state.runningTenant[entry.id] = entry.tenant
                state.runningPerTenant[entry.tenant, default: 0] += 1
                let since = state.queuedSince.removeValue(forKey: entry.id) ?? .now
                state.claiming += 1
                return Start(
                    id: entry.id, backend: backend, waited: .now - since, entry: entry, alternatives: alternatives)
            }
            return nil
        }
    }

    /// Takes over a run found in progress on `backend` after a restart: its slot is occupied and it counts as
    /// running. Nil when that backend is no longer configured.
    func adopt(_ id: String, on backend: String, tenant: String?) -> Start? {
        guard let occupied = pool.occupy(backend) else { return nil }
        state.withLock { state in
            state.running[id] = .now
            state.runningTenant[id] = tenant
            state.runningPerTenant[tenant, default: 0] += 1
        }
        return Start(id: id, backend: occupied, waited: .zero)
    }

    /// An attempt is over: frees the backend slot; `ended` forgets the task's retry history too.
    func finish(_ id: String, on backend: String, ended: Bool) {
        pool.release(backend)
        state.withLock { state in
            state.heldOff = false
            state.running[id] = nil
            if let tenant = state.runningTenant.removeValue(forKey: id) {
                state.runningPerTenant[tenant, default: 1] -= 1
                if state.runningPerTenant[tenant] == 0 { state.runningPerTenant[tenant] = nil }
            }
            if ended {
                state.failedOn[id] = nil
                state.needs[id] = nil
            }
        }
    }

    /// The store answered a claim `next` started; `busy` (no room across the gateways) holds further picks off
    /// until `capacityMayHaveFreed`, and makes claims go one at a time until the next `sync`.
    func claimAnswered(busy: Bool) {
        state.withLock { state in
            state.claiming = max(0, state.claiming - 1)
            if busy {
                state.contended = true
                state.heldOff = true
            }
        }
    }

    /// A run ended here or on another gateway: picking may resume.
    func capacityMayHaveFreed() { state.withLock { $0.heldOff = false } }

    /// A start the store refused for room (every gateway's runs counted): frees its slot and puts the task
    /// back in its place in the queue, without forgetting its retry history.
    func giveBack(_ start: Start) {
        pool.release(start.backend.name)
        state.withLock { state in
            state.running[start.id] = nil
            if let tenant = state.runningTenant.removeValue(forKey: start.id) {
                state.runningPerTenant[tenant, default: 1] -= 1
                if state.runningPerTenant[tenant] == 0 { state.runningPerTenant[tenant] = nil }
            }
            if let entry = start.entry {
                state.queue.forcePush(
                    id: entry.id, priority: entry.priority, at: entry.enqueuedAt, tenant: entry.tenant)
                state.queuedSince[entry.id] = .now - start.waited
            }
        }
    }

    /// How many tasks after the picked one a claim may fall back on.
    static let alternatives = 7

    /// The store claimed `claimed`, one of `start`'s alternatives, rather than the picked task (another gateway
    /// was taking that one): the claimed task leaves the queue and runs in the picked one's place; the picked
    /// one is forgotten here (it is running elsewhere, or comes back with the next full read of the queue).
    /// - Returns: the start for the claimed task.
    func claimedInstead(_ start: Start, claimed: String) -> Start {
        state.withLock { state in
            state.running[start.id] = nil
            state.running[claimed] = .now
            if let tenant = state.runningTenant.removeValue(forKey: start.id) {
                state.runningTenant[claimed] = tenant
            }
            state.queue.take(id: claimed)
            let since = state.queuedSince.removeValue(forKey: claimed) ?? .now
            state.failedOn[start.id] = nil
            var replaced = start
            replaced.id = claimed
            replaced.waited = .now - since
            replaced.entry = start.alternatives.first { $0.id == claimed }
            replaced.alternatives = []
            return replaced
        }
    }

    /// The store put the run on `to` rather than the backend the slot was reserved on: moves the slot.
    func moveSlot(from: String, to: String) {
        guard from != to, pool.occupy(to) != nil else { return }
        pool.release(from)
    }

    /// A task another gateway queued (a shared store's notice): queued here too unless it is known already
    /// (queued, running or waiting for a retry here) or waits out a retry delay; returns whether it was added.
    @discardableResult
    func mirror(_ entry: TaskQueue.Entry, now: Date = Date()) -> Bool {
        state.withLock { state in Self.mirror(entry, now: now, &state) }
    }

    private static func mirror(_ entry: TaskQueue.Entry, now: Date, _ state: inout State) -> Bool {
        guard !state.queue.contains(entry.id), state.running[entry.id] == nil, !state.delayed.contains(entry.id),
            (entry.readyAt ?? now) <= now
        else { return false }
        state.queue.forcePush(id: entry.id, priority: entry.priority, at: entry.enqueuedAt, tenant: entry.tenant)
        state.queuedSince[entry.id] = .now
        return true
    }

    /// A task left the shared queue elsewhere (claimed, cancelled, expired): out of this gateway's copy.
    func dropQueued(_ id: String) {
        state.withLock { state in
            if state.queue.remove(id: id) { state.queuedSince[id] = nil }
        }
    }

    /// Makes this gateway's copy of a shared queue match the store's (`entries`, read from `readBegan` on):
    /// tasks it lacks are added, tasks the store no longer holds queued are dropped (not ones queued here
    /// after the read began). Returns how many were added.
    @discardableResult
    func sync(_ entries: [TaskQueue.Entry], readBegan: ContinuousClock.Instant, now: Date = Date()) -> Int {
        state.withLock { state in
            state.contended = false
            state.heldOff = false
            let stored = Set(entries.map(\.id))
            for entry in state.queue.ordered() where !stored.contains(entry.id) {
                if let since = state.queuedSince[entry.id], since >= readBegan { continue }
                state.queue.remove(id: entry.id)
                state.queuedSince[entry.id] = nil
            }
            return entries.reduce(0) { $0 + (Self.mirror($1, now: now, &state) ? 1 : 0) }
        }
    }

    /// Records a failed attempt and holds the task out of the queue until `requeue` (after `retry_delay`).
    func holdForRetry(_ id: String, failedOn backend: String) {
        state.withLock { state in
            state.failedOn[id, default: []].insert(backend)
            state.delayed.insert(id)
        }
    }

    /// Puts a held task back in the queue; false when it was cancelled meanwhile. Retries may exceed the
    /// capacity by the few tasks in flight: an accepted task is never dropped.
    func requeue(_ id: String, priority: Priority, at time: Date, tenant: String?) -> Bool {
        state.withLock { state in
            guard state.delayed.remove(id) != nil else { return false }
            state.queue.forcePush(id: id, priority: priority, at: time, tenant: tenant)
            state.queuedSince[id] = .now
            return true
        }
    }

    /// Takes a task out of every list (cancelled); returns whether an attempt of it is running now.
    @discardableResult
    func remove(_ id: String) -> Bool {
        state.withLock { state in
            state.queue.remove(id: id)
            state.delayed.remove(id)
            state.queuedSince[id] = nil
            state.failedOn[id] = nil
            state.needs[id] = nil
            return state.running[id] != nil
        }
    }

    /// The tasks with an attempt running here now.
    var runningIDs: Set<String> { state.withLock { Set($0.running.keys) } }

    /// Whether an attempt of the task is running now.
    func isRunning(_ id: String) -> Bool { state.withLock { $0.running[id] != nil } }

    /// Takes out and returns the tasks that waited longer than `timeout` seconds.
    func removeExpired(olderThan timeout: TimeInterval, now: Date) -> [String] {
        state.withLock { state in
            let ids = state.queue.waiting(longerThan: timeout, now: now).map(\.id)
            for id in ids {
                state.queue.remove(id: id)
                state.queuedSince[id] = nil
                state.failedOn[id] = nil
                state.needs[id] = nil
            }
            return ids
        }
    }

    /// 1-based position in the queue, or nil when not queued.
    func position(of id: String) -> Int? { state.withLock { $0.queue.position(of: id) } }

    /// When the task's current attempt started, while it runs.
    func runningSince(_ id: String) -> ContinuousClock.Instant? { state.withLock { $0.running[id] } }

    /// How many tasks wait, run and wait for a retry.
    var counts: Counts {
        state.withLock { state in
            Counts(queued: state.queue.counts, running: state.running.count, delayed: state.delayed.count)
        }
    }
}
