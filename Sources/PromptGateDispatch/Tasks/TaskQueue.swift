import Foundation
import PromptGateCore

/// The waiting line: priority levels with aging, so a low-priority task waiting long enough is served before
/// fresh high-priority ones and never starves; bounded in size. Every operation costs O(log n) or less in the
/// number of queued tasks (amortized), so a deep queue does not slow submits, positions, cancels or claims.
///
/// Rank = level − waited / `agingInterval`; the lowest rank goes first, ties by arrival. Waiting time grows
/// alike for every task, so the order never changes once tasks are queued: it is the order of
/// `level × agingInterval + enqueuedAt`. Each level is a lane in arrival order (a sorted array), with a
/// Fenwick tree counting the live entries, so the next task is the best of the lane heads and a position is
/// one binary search and one prefix count per lane. Removed entries leave a hole that is compacted away later.
/// `levels` (`queue.priority_levels`) folds priorities together: 1 ignores them, 2 keeps high apart from the rest.
public struct TaskQueue: Sendable {
    /// A queued task.
    public struct Entry: Sendable, Equatable {
        /// The task's id.
        public let id: String
        /// Its priority when queued.
        public let priority: Priority
        /// When it was queued (aging counts from here).
        public let enqueuedAt: Date

        /// - Parameters: the task's id, priority and enqueue time.
        public init(id: String, priority: Priority, enqueuedAt: Date) {
            self.id = id
            self.priority = priority
            self.enqueuedAt = enqueuedAt
        }
    }

    /// Most tasks it holds.
    public let capacity: Int
    /// Seconds of waiting that raise a task one priority level.
    public let agingInterval: TimeInterval
    /// Distinct priority levels (1–3).
    public let levels: Int
    private var lanes: [Lane]
    /// Task id → its lane and slot.
    private var slots: [String: (lane: Int, slot: Int)] = [:]

    /// An empty queue of `capacity`.
    public init(capacity: Int, agingInterval: TimeInterval = 30, levels: Int = 3) {
        self.capacity = capacity
        self.agingInterval = agingInterval
        self.levels = min(3, max(1, levels))
        lanes = Array(repeating: Lane(), count: self.levels)
    }

    /// Tasks queued.
    public var count: Int { slots.count }
    /// Whether another task would be refused.
    public var isFull: Bool { slots.count >= capacity }

    /// Tasks queued at each priority.
    public var counts: [Priority: Int] {
        var counts: [Priority: Int] = [.high: 0, .normal: 0, .low: 0]
        for lane in lanes {
            for priority in Priority.allCases { counts[priority, default: 0] += lane.byPriority[priority] ?? 0 }
        }
        return counts
    }

    /// Adds a task; false when the queue is full (the front end answers 429 `queue_full`).
    @discardableResult
    public mutating func push(id: String, priority: Priority, at time: Date) -> Bool {
        guard !isFull else { return false }
        forcePush(id: id, priority: priority, at: time)
        return true
    }

    /// Adds a task even when the queue is full: a retry of an accepted task is never dropped. An id already
    /// queued is moved to its new place.
    public mutating func forcePush(id: String, priority: Priority, at time: Date) {
        remove(id: id)
        let lane = level(priority)
        let entry = Entry(id: id, priority: priority, enqueuedAt: time)
        if let moved = lanes[lane].insert(entry) {
            for (slot, entry) in moved { slots[entry.id] = (lane, slot) }
        } else {
            slots[id] = (lane, lanes[lane].items.count - 1)
        }
    }

    /// The task served next, left in the queue.
    public func first() -> Entry? {
        var best: (key: Double, entry: Entry)?
        for (index, lane) in lanes.enumerated() {
            guard let head = lane.head else { continue }
            let key = self.key(head, lane: index)
            if best == nil || key < best!.key || (key == best!.key && head.enqueuedAt < best!.entry.enqueuedAt) {
                best = (key, head)
            }
        }
        return best?.entry
    }

    /// Takes the task to run next.
    public mutating func pop() -> Entry? {
        guard let next = first() else { return nil }
        remove(id: next.id)
        return next
    }

    /// 1-based position in the order tasks will be served, or nil when not queued.
    public func position(of id: String) -> Int? {
        guard let (lane, slot) = slots[id] else { return nil }
        let mine = lanes[lane].items[slot].entry
        let key = self.key(mine, lane: lane)
        var ahead = lanes[lane].live(before: slot)
        for other in lanes.indices where other != lane {
            // In another lane, an entry is ahead when its key is lower: it arrived before this time.
            let time = key - Double(other) * agingInterval
            ahead += lanes[other].live(before: lanes[other].firstSlot(notBefore: time))
        }
        return ahead + 1
    }

    /// Removes a task (cancelled, expired or started); false when it was not queued.
    @discardableResult
    public mutating func remove(id: String) -> Bool {
        guard let (lane, slot) = slots.removeValue(forKey: id) else { return false }
        if let moved = lanes[lane].remove(at: slot) {
            for (slot, entry) in moved { slots[entry.id] = (lane, slot) }
        }
        return true
    }

    /// Entries waiting longer than `timeout` (to expire), oldest first per level.
    public func waiting(longerThan timeout: TimeInterval, now: Date) -> [Entry] {
        let cutoff = now.addingTimeInterval(-timeout)
        return lanes.flatMap { $0.entries(before: cutoff) }
    }

    /// Every queued entry in service order (for picking past tasks no backend can take now).
    public func ordered() -> [Entry] {
        var keyed: [(key: Double, entry: Entry)] = []
        for (index, lane) in lanes.enumerated() {
            for entry in lane.liveEntries { keyed.append((key(entry, lane: index), entry)) }
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

    /// The static order key: level × agingInterval + enqueue time.
    private func key(_ entry: Entry, lane: Int) -> Double {
        Double(lane) * agingInterval + entry.enqueuedAt.timeIntervalSinceReferenceDate
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
    private var liveCount = 0

    var head: Entry? {
        var slot = start
        while slot < items.count, !items[slot].live { slot += 1 }
        return slot < items.count ? items[slot].entry : nil
    }

    var liveEntries: [Entry] { items[start...].filter(\.live).map(\.entry) }

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
