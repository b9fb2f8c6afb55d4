import Foundation
import PromptGateCore

/// The waiting line: three priority levels with aging, so a low-priority task waiting long enough is served
/// before fresh high-priority ones and never starves; bounded in size.
///
/// Rank = level (high 0, normal 1, low 2) − waited / `agingInterval`; the lowest rank goes first, ties by
/// arrival. Taking the next task and a position are one linear scan each; aging changes ranks over time,
/// which a heap keyed at insertion would not follow.
public struct TaskQueue: Sendable {
    /// A queued task.
    public struct Entry: Sendable, Equatable {
        /// The task's id.
        public let id: String
        /// Its priority when queued.
        public let priority: Priority
        /// When it was queued (aging counts from here).
        public let enqueuedAt: Date
    }

    /// The queued tasks, in arrival order.
    public private(set) var entries: [Entry] = []
    /// Most tasks it holds.
    public let capacity: Int
    /// Seconds of waiting that raise a task one priority level.
    public let agingInterval: TimeInterval

    /// An empty queue of `capacity`.
    public init(capacity: Int, agingInterval: TimeInterval = 30) {
        self.capacity = capacity
        self.agingInterval = agingInterval
    }

    /// Tasks queued.
    public var count: Int { entries.count }
    /// Whether another task would be refused.
    public var isFull: Bool { entries.count >= capacity }

    /// Adds a task; false when the queue is full (the front end answers 429 `queue_full`).
    @discardableResult
    public mutating func push(id: String, priority: Priority, at time: Date) -> Bool {
        guard !isFull else { return false }
        entries.append(Entry(id: id, priority: priority, enqueuedAt: time))
        return true
    }

    /// Adds a task even when the queue is full: a retry of an accepted task is never dropped.
    public mutating func forcePush(id: String, priority: Priority, at time: Date) {
        entries.append(Entry(id: id, priority: priority, enqueuedAt: time))
    }

    /// Takes the task to run next.
    public mutating func pop(now: Date) -> Entry? {
        guard let index = first(now: now) else { return nil }
        return entries.remove(at: index)
    }

    /// The index of the entry served next (one scan, no sort).
    func first(now: Date) -> Int? {
        entries.indices.min { before(entries[$0], entries[$1], now: now) }
    }

    /// 1-based position in the order tasks will be served, or nil when not queued (one scan, no sort).
    public func position(of id: String, now: Date) -> Int? {
        guard let mine = entries.first(where: { $0.id == id }) else { return nil }
        return entries.reduce(1) { count, other in before(other, mine, now: now) ? count + 1 : count }
    }

    /// Whether `a` is served before `b`.
    func before(_ a: Entry, _ b: Entry, now: Date) -> Bool {
        let ra = rank(a, now: now), rb = rank(b, now: now)
        return ra != rb ? ra < rb : a.enqueuedAt < b.enqueuedAt
    }

    /// Removes a task (cancelled or expired); false when it was not queued.
    @discardableResult
    public mutating func remove(id: String) -> Bool {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Entries waiting longer than `timeout` (to expire).
    public func waiting(longerThan timeout: TimeInterval, now: Date) -> [Entry] {
        entries.filter { now.timeIntervalSince($0.enqueuedAt) > timeout }
    }

    func rank(_ entry: Entry, now: Date) -> Double {
        let level: Double
        switch entry.priority {
        case .high: level = 0
        case .normal: level = 1
        case .low: level = 2
        }
        return level - max(0, now.timeIntervalSince(entry.enqueuedAt)) / agingInterval
    }

    /// Indices of `entries` in service order.
    func order(now: Date) -> [Int] {
        entries.indices.sorted { before(entries[$0], entries[$1], now: now) }
    }
}
