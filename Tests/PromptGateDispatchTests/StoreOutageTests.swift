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
    /// The in-memory store, with reads failing while `down` is set (writes still work, as after a reconnect).
    final class FlakyReads: TaskStore {
        let inner = InMemoryTaskStore()
        let down = Mutex(false)
        let failedReads = Mutex(0)

        func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(TaskStoreError) {
            try inner.insert(task, idempotency: idempotency)
        }
        func task(id: String) async -> GenerationTask? { try? await find(id: id) }
        func find(id: String) async throws(TaskStoreError) -> GenerationTask? {
            if down.withLock({ $0 }) {
                failedReads.withLock { $0 += 1 }
                throw TaskStoreError(code: "store.unavailable", message: "the database is restarting")
            }
            return inner.task(id: id)
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
        let sim = ComfySim(runTime: .milliseconds(600))
        try await withDispatcher([sim], store: store) { dispatcher, _ in
            let submitted = try await dispatcher.submit(GenerationTask(request: request()))
            let id = submitted.task.id
            #expect(await TestSupport.eventually { store.inner.task(id: id)?.status == .running })
            store.down.withLock { $0 = true }
            #expect(await TestSupport.eventually { store.failedReads.withLock { $0 } >= 3 })  // the run looked
            store.down.withLock { $0 = false }
            let done = try await finished(dispatcher, id)
            #expect(done.status == .completed && done.attempts == 1, "\(done)")
            #expect(sim.stopRequests(id) == 0)
        }
    }
}
