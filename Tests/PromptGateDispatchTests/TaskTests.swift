import Foundation
import PromptGateCore
import PromptGateDispatch
import Testing

@Suite("Task store and queue")
struct TaskTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func everyTaskEndsInExactlyOneTerminalState() throws {
        let store = InMemoryTaskStore()
        let task = GenerationTask(request: PromptRequest(prompt: "x"))
        #expect(task.id == task.id.lowercased() && UUID(uuidString: task.id) != nil)
        try store.insert(task)
        #expect(throws: TaskStoreError.self) { try store.insert(task) }
        try store.transition(id: task.id, to: .running) {
            $0.attempts += 1; $0.backend = "gpu0"
        }
        try store.transition(id: task.id, to: .queued) { _ in }  // a retryable failure
        try store.transition(id: task.id, to: .running) { $0.attempts += 1 }
        let done = try store.transition(id: task.id, to: .completed) { $0.finishedAt = Date() }
        #expect(done.attempts == 2 && done.backend == "gpu0")
        for status in TaskStatus.allCases {
            #expect(throws: TaskStoreError.self) { try store.transition(id: task.id, to: status) { _ in } }
        }
        #expect(store.tasks(in: .completed).map(\.id) == [task.id])
        #expect(throws: TaskStoreError.self) { try store.transition(id: "missing", to: .running) { _ in } }
    }

    @Test(arguments: [
        (TaskStatus.queued, TaskStatus.completed), (.queued, .failed), (.running, .expired), (.cancelled, .running),
        (.expired, .queued), (.failed, .running),
    ])
    func invalidTransitionsAreRefused(from: TaskStatus, to: TaskStatus) throws {
        let store = InMemoryTaskStore()
        let task = GenerationTask(request: PromptRequest(prompt: "x"))
        try store.insert(task)
        // Walk to `from` along allowed moves.
        switch from {
        case .queued: break
        case .running: try store.transition(id: task.id, to: .running) { _ in }
        case .cancelled, .expired: try store.transition(id: task.id, to: from) { _ in }
        case .failed, .completed:
            try store.transition(id: task.id, to: .running) { _ in }
            try store.transition(id: task.id, to: from) { _ in }
        }
        do {
            try store.transition(id: task.id, to: to) { _ in }
            Issue.record("\(from) → \(to) was allowed")
        } catch {
            #expect(error.code == "task.invalid_transition")
        }
    }

    @Test func priorityOrderWithAgingSoLowNeverStarves() {
        var queue = TaskQueue(capacity: 10, agingInterval: 30)
        queue.push(id: "low", priority: .low, at: t0)
        queue.push(id: "normal", priority: .normal, at: t0.addingTimeInterval(1))
        queue.push(id: "high", priority: .high, at: t0.addingTimeInterval(2))
        #expect(queue.position(of: "high", now: t0.addingTimeInterval(3)) == 1)
        #expect(queue.position(of: "low", now: t0.addingTimeInterval(3)) == 3)
        // 70 s later the waiting tasks keep their order among themselves, but the low one has aged past
        // fresh work of every level: a stream of new high-priority tasks cannot starve it.
        let later = t0.addingTimeInterval(70)
        queue.push(id: "fresh-high", priority: .high, at: later)
        var served: [String] = []
        while let next = queue.pop(now: later) { served.append(next.id) }
        #expect(served == ["high", "normal", "low", "fresh-high"])
    }

    @Test func sameLevelIsFirstComeFirstServed() {
        var queue = TaskQueue(capacity: 10)
        for i in 0..<5 { queue.push(id: "n\(i)", priority: .normal, at: t0.addingTimeInterval(Double(i))) }
        let now = t0.addingTimeInterval(10)
        var served: [String] = []
        while let next = queue.pop(now: now) { served.append(next.id) }
        #expect(served == ["n0", "n1", "n2", "n3", "n4"])
    }

    @Test func boundedRemovableExpirable() {
        var queue = TaskQueue(capacity: 2)
        let pushedA = queue.push(id: "a", priority: .normal, at: t0)
        let pushedB = queue.push(id: "b", priority: .normal, at: t0.addingTimeInterval(100))
        let pushedC = queue.push(id: "c", priority: .high, at: t0)  // full → 429 queue_full
        #expect(pushedA && pushedB && !pushedC)
        #expect(queue.waiting(longerThan: 60, now: t0.addingTimeInterval(120)).map(\.id) == ["a"])
        let removed = queue.remove(id: "a"), removedAgain = queue.remove(id: "a")
        #expect(removed && !removedAgain)
        #expect(queue.position(of: "b", now: t0.addingTimeInterval(120)) == 1)
        #expect(queue.position(of: "zzz", now: t0) == nil)
    }
}
