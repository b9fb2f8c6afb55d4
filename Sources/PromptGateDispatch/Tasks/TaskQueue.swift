import Foundation
import PromptGateCore

/// The waiting line: priority levels with aging, so a low-priority task waiting long enough is served before
/// fresh high-priority ones and never starves; within a level, tenants (API keys) take turns, so one key's
/// batch of a thousand cannot hold back another key's single request; bounded in size. Every operation costs
/// O(log n) in the number of queued tasks (amortized) times at most the number of tenants with queued work.
///
/// A level is a `PriorityClass`: one line per tenant in arrival order, and a ring of the tenants with work,
/// served one task each in turn (a tenant that arrives joins at the end of the current round). Which level
/// goes next is decided by aging: rank = level − waited / `agingInterval` for the level's longest-waiting task,
/// the lowest rank first, ties by arrival. With one tenant this is exactly the order of
/// `level × agingInterval + enqueuedAt`; positions are exact within a level and count other levels' tasks by
/// that order. Removed entries leave a hole that is compacted away later. `levels` (`queue.priority_levels`)
/// folds priorities together: 1 ignores them, 2 keeps high apart from the rest.
public struct TaskQueue: Sendable {
    /// A queued task.
    public struct Entry: Sendable, Equatable {
        /// The task's id.
        public let id: String
        /// Its priority when queued.
        public let priority: Priority
        /// When it was queued (aging counts from here).
        public let enqueuedAt: Date
        /// Who it belongs to (the API key's name; nil without keys): tenants take turns within a level.
        public let tenant: String?
        /// When a task queued again after a failed attempt may start (`GenerationTask.retryAt`); nil: now.
        public var readyAt: Date?

        /// - Parameters: the task's id, priority, enqueue time, tenant and retry time.
        public init(id: String, priority: Priority, enqueuedAt: Date, tenant: String? = nil, readyAt: Date? = nil) {
            self.id = id
            self.priority = priority
            self.enqueuedAt = enqueuedAt
            self.tenant = tenant
            self.readyAt = readyAt
        }
    }

    /// Most tasks it holds.
    public let capacity: Int
    /// Seconds of waiting that raise a task one priority level.
    public let agingInterval: TimeInterval
    /// Distinct priority levels (1–3).
    public let levels: Int
    private var classes: [PriorityClass]
    /// Task id → its level, tenant and slot in the tenant's line.
    private var slots: [String: Slot] = [:]
    /// Queued tasks per tenant, over all levels.
    private var perTenant: [String?: Int] = [:]

    private struct Slot {
        var level: Int
        var tenant: String?
        var slot: Int
    }

    /// An empty queue of `capacity`.
    public init(capacity: Int, agingInterval: TimeInterval = 30, levels: Int = 3) {
        self.capacity = capacity
        self.agingInterval = agingInterval
        self.levels = min(3, max(1, levels))
        classes = Array(repeating: PriorityClass(), count: self.levels)
    }

    /// Tasks queued.
    public var count: Int { slots.count }
    /// Whether another task would be refused.
    public var isFull: Bool { slots.count >= capacity }

    /// Whether a task is queued.
    public func contains(_ id: String) -> Bool { slots[id] != nil }

    /// Tasks queued by one tenant.
    public func count(tenant: String?) -> Int { perTenant[tenant] ?? 0 }

    /// Tasks queued at each priority.
    public var counts: [Priority: Int] {
        var counts: [Priority: Int] = [.high: 0, .normal: 0, .low: 0]
        for level in classes {
            for line in level.lines.values {
                for priority in Priority.allCases { counts[priority, default: 0] += line.byPriority[priority] ?? 0 }
            }
        }
        return counts
    }

    /// Adds a task; false when the queue is full (the front end answers 429 `queue_full`).
    @discardableResult
    public mutating func push(id: String, priority: Priority, at time: Date, tenant: String? = nil) -> Bool {
        guard !isFull else { return false }
        forcePush(id: id, priority: priority, at: time, tenant: tenant)
        return true
    }

    /// Adds a task even when the queue is full: a retry of an accepted task is never dropped. An id already
    /// queued is moved to its new place.
    public mutating func forcePush(id: String, priority: Priority, at time: Date, tenant: String? = nil) {
        remove(id: id)
        let level = level(priority)
        let entry = Entry(id: id, priority: priority, enqueuedAt: time, tenant: tenant)
        let moved = classes[level].insert(entry)
        for (slot, entry) in moved { slots[entry.id] = Slot(level: level, tenant: tenant, slot: slot) }
        perTenant[tenant, default: 0] += 1
    }

    /// The task served next, left in the queue.
    public func first() -> Entry? { first(allowing: { _ in true }) }

    /// The task served next among tenants `allowed` says may start work now (a tenant at its `max_running`
    /// waits; its turn passes to the next tenant).
    public func first(allowing allowed: (String?) -> Bool) -> Entry? {
        var best: (key: Double, oldest: Date, entry: Entry)?
        for (index, level) in classes.enumerated() {
            guard let oldest = level.oldest, let head = level.head(allowing: allowed) else { continue }
            let key = Double(index) * agingInterval + oldest.timeIntervalSinceReferenceDate
            if best == nil || key < best!.key || (key == best!.key && oldest < best!.oldest) {
                best = (key, oldest, head)
            }
        }
        return best?.entry
    }

    /// Up to `count` tasks queued after `entry` in its tenant's line at its level (the tasks of that tenant
    /// served next), for a claim that may find `entry` taken by another gateway.
    public func following(_ entry: Entry, upTo count: Int) -> [Entry] {
        guard count > 0, let place = slots[entry.id], let line = classes[place.level].lines[place.tenant] else {
            return []
        }
        return Array(line.heads(count + 1).filter { $0.id != entry.id }.prefix(count))
    }

    /// Takes the task to run next.
    public mutating func pop() -> Entry? {
        guard let next = first() else { return nil }
        take(id: next.id)
        return next
    }

    /// Takes a task out to run it: its tenant's turn in the level is used, the next tenant's comes next.
    @discardableResult
    public mutating func take(id: String) -> Bool { remove(id: id, usingTurn: true) }

    /// 1-based position in the order tasks will be served (exact within its level: its tenant's tasks ahead and
    /// each other tenant's turns before it; other levels by aging order), or nil when not queued.
    public func position(of id: String) -> Int? {
        guard let place = slots[id] else { return nil }
        let level = classes[place.level]
        let mine = level.entry(tenant: place.tenant, slot: place.slot)
        var ahead = level.ahead(tenant: place.tenant, slot: place.slot)
        let key = Double(place.level) * agingInterval + mine.enqueuedAt.timeIntervalSinceReferenceDate
        for other in classes.indices where other != place.level {
            // In another level, a task is ahead when its key is lower: it arrived before this time.
            ahead += classes[other].arrived(before: key - Double(other) * agingInterval)
        }
        return ahead + 1
    }

    /// Removes a task (cancelled or expired); false when it was not queued. Turns are not changed.
    @discardableResult
    public mutating func remove(id: String) -> Bool { remove(id: id, usingTurn: false) }

    private mutating func remove(id: String, usingTurn: Bool) -> Bool {
        guard let place = slots.removeValue(forKey: id) else { return false }
        let moved = classes[place.level].remove(at: place.slot, tenant: place.tenant, usingTurn: usingTurn)
        for (slot, entry) in moved { slots[entry.id] = Slot(level: place.level, tenant: place.tenant, slot: slot) }
        perTenant[place.tenant, default: 1] -= 1
        if perTenant[place.tenant] == 0 { perTenant[place.tenant] = nil }
        return true
    }

    /// Entries waiting longer than `timeout` (to expire), oldest first per tenant and level.
    public func waiting(longerThan timeout: TimeInterval, now: Date) -> [Entry] {
        let cutoff = now.addingTimeInterval(-timeout)
        return classes.flatMap { level in level.ring.flatMap { level.lines[$0]?.entries(before: cutoff) ?? [] } }
    }

    /// Every queued entry by aging order (level × agingInterval + arrival), for picking past tasks no backend
    /// can take now; turns between tenants are not applied here.
    public func ordered() -> [Entry] {
        var keyed: [(key: Double, entry: Entry)] = []
        for (index, level) in classes.enumerated() {
            for line in level.lines.values {
                for entry in line.liveEntries {
                    keyed.append(
                        (Double(index) * agingInterval + entry.enqueuedAt.timeIntervalSinceReferenceDate, entry))
                }
            }
        }
        keyed.sort { a, b in a.key != b.key ? a.key < b.key : a.entry.enqueuedAt < b.entry.enqueuedAt }
        return keyed.map(\.entry)
    }

    private func level(_ priority: Priority) -> Int {
        let level: Int
        switch priority {
        case .high: level = 0
        case .normal: level = 1
        case .low: level = 2
        }
        // Two levels: high apart from the rest; one: all alike.
        return min(level, levels - 1)
    }
}

/// One priority level: a line per tenant in arrival order and the ring of tenants with work, served in turn.
private struct PriorityClass: Sendable {
    var lines: [String?: Lane] = [:]
    /// Tenants with queued tasks, in turn order; `turn` is the one served next.
    private(set) var ring: [String?] = []
    private var turn = 0

    /// The longest-waiting task's arrival (aging between levels), or nil when empty.
    var oldest: Date? { ring.compactMap { lines[$0]?.head?.enqueuedAt }.min() }

    /// The head of the first tenant in turn that `allowed` lets start.
    func head(allowing allowed: (String?) -> Bool) -> TaskQueue.Entry? {
        for step in ring.indices {
            let tenant = ring[(turn + step) % ring.count]
            if allowed(tenant), let head = lines[tenant]?.head { return head }
        }
        return nil
    }

    func entry(tenant: String?, slot: Int) -> TaskQueue.Entry { lines[tenant]!.items[slot].entry }

    /// Tasks of this level served before the one at `slot` of `tenant`'s line: the tenant's own earlier ones,
    /// and from every other tenant one per round before it (one more for tenants whose turn comes first).
    func ahead(tenant: String?, slot: Int) -> Int {
        guard let line = lines[tenant], let mine = ring.firstIndex(of: tenant) else { return 0 }
        let rounds = line.live(before: slot)
        var ahead = rounds
        for (index, other) in ring.enumerated() where other != tenant {
            let before = (index - turn + ring.count) % ring.count < (mine - turn + ring.count) % ring.count
            ahead += min(lines[other]?.liveCount ?? 0, rounds + (before ? 1 : 0))
        }
        return ahead
    }

    /// Live tasks that arrived before `time` (reference-date seconds).
    func arrived(before time: Double) -> Int {
        lines.values.reduce(0) { $0 + $1.live(before: $1.firstSlot(notBefore: time)) }
    }

    /// Adds an entry to its tenant's line (a tenant new to the ring joins at the end of the current round).
    /// Returns the slots that changed.
    mutating func insert(_ entry: TaskQueue.Entry) -> [(Int, TaskQueue.Entry)] {
        let tenant = entry.tenant
        let joined = (lines[tenant]?.liveCount ?? 0) == 0
        // Mutated in place (a copy taken out of the dictionary would copy the lane's arrays on every insert).
        let rebuilt = lines[tenant, default: Lane()].insert(entry)
        let moved = rebuilt ?? [((lines[tenant]?.items.count ?? 1) - 1, entry)]
        if joined {
            ring.insert(tenant, at: turn)
            turn = ring.count == 1 ? 0 : turn + 1
        }
        return moved
    }

    /// Removes the entry at `slot` of `tenant`'s line; `usingTurn`: it was taken to run, so the turn passes to
    /// the tenant after it. Returns the slots that changed.
    mutating func remove(at slot: Int, tenant: String?, usingTurn: Bool) -> [(Int, TaskQueue.Entry)] {
        guard lines[tenant] != nil, let index = ring.firstIndex(of: tenant) else { return [] }
        let moved = lines[tenant]?.remove(at: slot) ?? []
        if lines[tenant]?.liveCount == 0 {
            lines[tenant] = nil
            ring.remove(at: index)
            if ring.isEmpty {
                turn = 0
            } else if usingTurn {
                turn = index % ring.count
            } else if index < turn {
                turn -= 1
            } else {
                turn %= ring.count
            }
        } else if usingTurn {
            turn = (index + 1) % ring.count
        }
        return moved
    }
}

/// One priority level's entries in arrival order, holes where entries left, and a Fenwick tree over the slots
/// counting live ones.
private struct Lane: Sendable {
    struct Item: Sendable {
        var entry: Entry
        var live: Bool
    }
    typealias Entry = TaskQueue.Entry

    private(set) var items: [Item] = []
    /// Slots before this one are all holes.
    private var start = 0
    private var tree = FenwickTree(size: 64)
    private(set) var byPriority: [Priority: Int] = [:]
    private(set) var liveCount = 0

    var head: Entry? {
        var slot = start
        while slot < items.count, !items[slot].live { slot += 1 }
        return slot < items.count ? items[slot].entry : nil
    }

    var liveEntries: [Entry] { items[start...].filter(\.live).map(\.entry) }

    /// The first `count` live entries (a walk from the head, no further).
    func heads(_ count: Int) -> [Entry] {
        var found: [Entry] = []
        for item in items[start...] where item.live {
            found.append(item.entry)
            if found.count == count { break }
        }
        return found
    }

    /// Live entries that arrived before `cutoff`, oldest first (a walk from the head, no further).
    func entries(before cutoff: Date) -> [Entry] {
        var found: [Entry] = []
        for item in items[start...] {
            guard item.entry.enqueuedAt < cutoff else { break }
            if item.live { found.append(item.entry) }
        }
        return found
    }

    /// Appends `entry` in arrival order. Returns the slots that changed when the lane was rebuilt (an entry
    /// older than the newest, or the tree outgrown), nil when it was a plain append.
    mutating func insert(_ entry: Entry) -> [(Int, Entry)]? {
        liveCount += 1
        byPriority[entry.priority, default: 0] += 1
        if let last = items.last, last.entry.enqueuedAt > entry.enqueuedAt {
            // Out of order (recovery, a clock step back): place it, rebuild.
            var entries = liveEntries
            let at = entries.partitioningIndex { $0.enqueuedAt > entry.enqueuedAt }
            entries.insert(entry, at: at)
            return rebuild(entries)
        }
        if items.count >= tree.size { return rebuild(liveEntries + [entry]) }
        items.append(Item(entry: entry, live: true))
        tree.add(items.count - 1, 1)
        return nil
    }

    /// Leaves a hole at `slot`; compacts when holes are most of the lane. Returns the moved slots then.
    mutating func remove(at slot: Int) -> [(Int, Entry)]? {
        guard items[slot].live else { return nil }
        items[slot].live = false
        tree.add(slot, -1)
        liveCount -= 1
        byPriority[items[slot].entry.priority, default: 0] -= 1
        while start < items.count, !items[start].live { start += 1 }
        if items.count > 1024, liveCount * 2 < items.count { return rebuild(liveEntries) }
        if liveCount == 0 {
            items.removeAll(keepingCapacity: true)
            start = 0
            tree = FenwickTree(size: tree.size)
        }
        return nil
    }

    /// Live entries in slots before `slot`.
    func live(before slot: Int) -> Int { tree.prefix(slot) }

    /// The first slot whose entry arrived at or after `time` (reference-date seconds).
    func firstSlot(notBefore time: Double) -> Int {
        items.partitioningIndex { $0.entry.enqueuedAt.timeIntervalSinceReferenceDate >= time }
    }

    private mutating func rebuild(_ entries: [Entry]) -> [(Int, Entry)] {
        items = entries.map { Item(entry: $0, live: true) }
        start = 0
        var size = 64
        while size < items.count * 2 { size *= 2 }
        tree = FenwickTree(size: size)
        for slot in items.indices { tree.add(slot, 1) }
        return Array(zip(items.indices, entries))
    }
}

/// Prefix sums with point updates in O(log n).
private struct FenwickTree: Sendable {
    private var sums: [Int]
    var size: Int { sums.count }

    init(size: Int) { sums = Array(repeating: 0, count: size) }

    mutating func add(_ index: Int, _ delta: Int) {
        var i = index + 1
        while i <= sums.count {
            sums[i - 1] += delta
            i += i & -i
        }
    }

    /// The sum over indices before `end`.
    func prefix(_ end: Int) -> Int {
        var i = min(end, sums.count), total = 0
        while i > 0 {
            total += sums[i - 1]
            i -= i & -i
        }
        return total
    }
}

extension Array {
    /// The first index whose element satisfies `belongs`, for an array where those elements come last.
    fileprivate func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
