import ComfySim
import Foundation
import PromptGateCore
@testable import PromptGateDispatch
import PromptGateTestSupport
import Synchronization
import Testing

/// A task store that cannot be read for a while (a database restarting, a network blip), under a run in
/// progress: the run is neither stopped on its backend nor given up.
@Suite("A store outage under a running task")
struct StoreOutageTests {
    /// The in-memory store whose first `outage` reads of a running task fail (writes still work, as after a
    /// reconnect): the run's first look at the store is one of them, whatever the timing.
    final class FlakyReads: TaskStore {
        let inner = InMemoryTaskStore()
        let outage = 3
        let failedReads = Mutex(0)

        func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(TaskStoreError) {
            try inner.insert(task, idempotency: idempotency)
        }
        /// Reads that cannot tell a failure from a missing task (the test's own waits) are not failed.
        func task(id: String) async -> GenerationTask? { inner.task(id: id) }
        func find(id: String) async throws(TaskStoreError) -> GenerationTask? {
            let task = inner.task(id: id)
            guard task?.status == .running else { return task }
            let failing = failedReads.withLock { failed in
                guard failed < outage else { return false }
                failed += 1
                return true
            }
            if failing { throw TaskStoreError(code: "store.unavailable", message: "the database is restarting") }
            return task
        }
        func transition(id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void)
            async throws(TaskStoreError) -> GenerationTask
        {
            try inner.transition(id: id, to: status, update)
        }
        func tasks(in status: TaskStatus) async -> [GenerationTask] { inner.tasks(in: status) }
        func queueEntries() async -> [TaskQueue.Entry] { inner.queueEntries() }
        func page(caller: String?, status: TaskStatus?, after cursor: TaskCursor?, limit: Int) async
            -> [GenerationTask]
        {
            inner.page(caller: caller, status: status, after: cursor, limit: limit)
        }
        func tasks(usingFile name: String) async -> [GenerationTask] { inner.tasks(usingFile: name) }
        func removeEnded(before cutoff: Date) async -> RemovedTasks { inner.removeEnded(before: cutoff) }
        func idempotencyRecord(scope: String, key: String) async -> IdempotencyRecord? {
            inner.idempotencyRecord(scope: scope, key: key)
        }
        func saveIdempotentResponse(scope: String, key: String, response: String) async {
            inner.saveIdempotentResponse(scope: scope, key: key, response: response)
        }
        func claimWebhooks(dueBy now: Date, lease: Duration, limit: Int) async -> [WebhookDelivery] {
            inner.claimWebhooks(dueBy: now, lease: lease, limit: limit)
        }
        func updateWebhook(_ delivery: WebhookDelivery) async { inner.updateWebhook(delivery) }
        func webhooks(of taskID: String) async -> [WebhookDelivery] { inner.webhooks(of: taskID) }
    }

    @Test func aRunOutlivesAStoreThatCannotBeReadForAWhile() async throws {
        let store = FlakyReads()
        let sim = ComfySim(runTime: .milliseconds(200))
        try await withDispatcher([sim], store: store) { dispatcher, _ in
            let submitted = try await dispatcher.submit(GenerationTask(request: request()))
            let id = submitted.task.id
            let done = try await finished(dispatcher, id)
            // The run's looks at the store failed (at least its first), and it went on to its end.
            #expect(store.failedReads.withLock { $0 } >= 1)
            #expect(done.status == .completed && done.attempts == 1, "\(done)")
            #expect(sim.stopRequests(id) == 0)
        }
    }
}
