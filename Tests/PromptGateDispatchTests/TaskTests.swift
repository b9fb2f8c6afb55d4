import Foundation
import PromptGateCore
@testable import PromptGateDispatch
import GRDB
import PromptGateTestSupport
import Testing

@Suite("Task store and queue")
struct TaskTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    /// Every store implementation runs the same contract.
    enum Store: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqliteInMemory, sqliteFile, postgres
        var testDescription: String { rawValue }

        func make() async throws -> any TaskStore {
            switch self {
            case .memory: InMemoryTaskStore()
            case .sqliteInMemory: try SQLiteTaskStore(path: ":memory:")
            case .sqliteFile:
                try SQLiteTaskStore(path: try TestSupport.temporaryDirectory().appendingPathComponent("t.sqlite").path)
            case .postgres:
                // A database of its own on the test process's private server (Debian's postgresql).
                PostgresTaskStore(
                    location: try .init(url: try await PostgresCluster.shared().makeDatabase()),
                    connectTimeout: .seconds(60))
            }
        }
    }

    @Test(arguments: Store.allCases)
    func everyTaskEndsInExactlyOneTerminalState(_ kind: Store) async throws {
        let store = try await kind.make()
        let task = GenerationTask(request: PromptRequest(prompt: "x"))
        #expect(task.id == task.id.lowercased() && UUID(uuidString: task.id) != nil)
        try await store.insert(task)
        await #expect(throws: TaskStoreError.self) { try await store.insert(task) }
        try await store.transition(id: task.id, to: .running) {
            $0.attempts += 1; $0.backend = "gpu0"
        }
        try await store.transition(id: task.id, to: .queued) { _ in }  // a retryable failure
        try await store.transition(id: task.id, to: .running) { $0.attempts += 1 }
        let done = try await store.transition(id: task.id, to: .completed) { $0.finishedAt = Date() }
        #expect(done.attempts == 2 && done.backend == "gpu0")
        for status in TaskStatus.allCases {
            await #expect(throws: TaskStoreError.self) { try await store.transition(id: task.id, to: status) { _ in } }
        }
        #expect(await store.tasks(in: .completed).map(\.id) == [task.id])
        #expect(await store.task(id: task.id) == done)
        await #expect(throws: TaskStoreError.self) { try await store.transition(id: "missing", to: .running) { _ in } }
    }

    @Test(
        arguments: Store.allCases,
        [
            (TaskStatus.queued, TaskStatus.completed), (.queued, .failed), (.running, .expired), (.cancelled, .running),
            (.expired, .queued), (.failed, .running),
        ])
    func invalidTransitionsAreRefused(_ kind: Store, move: (from: TaskStatus, to: TaskStatus)) async throws {
        let store = try await kind.make()
        let (from, to) = move
        let task = GenerationTask(request: PromptRequest(prompt: "x"))
        try await store.insert(task)
        // Walk to `from` along allowed moves.
        switch from {
        case .queued: break
        case .running: try await store.transition(id: task.id, to: .running) { _ in }
        case .cancelled, .expired: try await store.transition(id: task.id, to: from) { _ in }
        case .failed, .completed:
            try await store.transition(id: task.id, to: .running) { _ in }
            try await store.transition(id: task.id, to: from) { _ in }
        }
        do {
            try await store.transition(id: task.id, to: to) { _ in }
            Issue.record("\(from) → \(to) was allowed")
        } catch {
            #expect(error.code == "task.invalid_transition")
        }
    }

    @Test(arguments: Store.allCases)
    func tasksByStatusOldestFirstAndRetention(_ kind: Store) async throws {
        let store = try await kind.make()
        var ids: [String] = []
        for i in 0..<3 {
            let task = GenerationTask(
                request: PromptRequest(prompt: "p\(i)"), createdAt: t0.addingTimeInterval(Double(3 - i)))
            try await store.insert(task)
            ids.append(task.id)
        }
        #expect(await store.tasks(in: .queued).map(\.id) == ids.reversed())
        try await store.transition(id: ids[0], to: .cancelled) { $0.finishedAt = self.t0.addingTimeInterval(10) }
        try await store.transition(id: ids[1], to: .expired) { $0.finishedAt = self.t0.addingTimeInterval(100) }
        let removed = await store.removeEnded(before: t0.addingTimeInterval(50))
        #expect(removed.tasks.map(\.id) == [ids[0]])
        let gone = await store.task(id: ids[0]), kept = await store.task(id: ids[1])
        #expect(gone == nil && kept != nil)
        #expect(await store.tasks(in: .queued).map(\.id) == [ids[2]])
    }

    /// Keys, pages, shared image files and cached results behave alike in every store.
    @Test(arguments: Store.allCases)
    func keysPagesFilesAndCacheAgreeInEveryStore(_ kind: Store) async throws {
        let store = try await kind.make()
        let cache = store as? any ResultCache
        var tasks: [GenerationTask] = []
        for index in 0..<4 {
            var task = GenerationTask(
                request: PromptRequest(prompt: "p\(index)"), createdAt: t0.addingTimeInterval(Double(index)))
            task.caller = index % 2 == 0 ? "shop" : "other"
            tasks.append(task)
        }
        let record = IdempotencyRecord(
            scope: "shop", key: "k1", fingerprint: "f", taskID: tasks[0].id, createdAt: Date())
        try await store.insert(tasks[0], idempotency: record)
        do {
            try await store.insert(tasks[1], idempotency: record)
            Issue.record("a key was taken twice")
        } catch {
            #expect(error.code == "idempotency.duplicate")
        }
        #expect(await store.task(id: tasks[1].id) == nil)  // nothing of the refused insert stayed
        for task in tasks.dropFirst() { try await store.insert(task) }
        await store.saveIdempotentResponse(scope: "shop", key: "k1", response: "{}")
        let found = await store.idempotencyRecord(scope: "shop", key: "k1")
        #expect(found?.taskID == tasks[0].id && found?.response == "{}")
        // Pages: newest first, by caller and status, continued by the cursor.
        let shop = try await store.page(caller: "shop", status: nil, after: nil, limit: 10).map(\.id)
        #expect(shop == [tasks[2].id, tasks[0].id])
        let first = try await store.page(caller: nil, status: .queued, after: nil, limit: 3)
        #expect(first.map(\.id) == [tasks[3].id, tasks[2].id, tasks[1].id])
        let rest = try await store.page(caller: nil, status: .queued, after: TaskCursor(after: first[2]), limit: 3)
        #expect(rest.map(\.id) == [tasks[0].id])
        // Two completed tasks share a file (a cached result); removing one keeps the file for the other.
        let image = TaskImage(file: "shared.png", node: "9", sourceFilename: "a.png", seed: 1, index: 0)
        for task in tasks.prefix(2) {
            try await store.transition(id: task.id, to: .running) { _ in }
            try await store.transition(id: task.id, to: .completed) {
                $0.images = [image]
                $0.finishedAt = $0.createdAt.addingTimeInterval(1)
            }
        }
        #expect(Set(await store.tasks(usingFile: "shared.png").map(\.id)) == Set(tasks.prefix(2).map(\.id)))
        let firstRemoval = await store.removeEnded(before: t0.addingTimeInterval(1.5))
        #expect(firstRemoval.tasks.map(\.id) == [tasks[0].id] && firstRemoval.unusedFiles.isEmpty)
        let secondRemoval = await store.removeEnded(before: t0.addingTimeInterval(10))
        #expect(secondRemoval.tasks.map(\.id) == [tasks[1].id] && secondRemoval.unusedFiles == ["shared.png"])
        // The database result cache (SQLite and PostgreSQL stores are one).
        if let cache {
            let now = Date()
            await cache.storeResult(
                CachedResult(taskID: "t", images: [image], expiresAt: now.addingTimeInterval(60)), key: "g")
            #expect(await cache.cachedResult(key: "g", now: now)?.taskID == "t")
            #expect(await cache.cachedResult(key: "g", now: now.addingTimeInterval(61)) == nil)
            await cache.removeExpiredResults(now: now.addingTimeInterval(61))
            #expect(await cache.cachedResult(key: "g", now: now) == nil)
        }
    }

    /// A task that names a webhook gets exactly one message, written with its terminal move (or with its insert
    /// when it is stored already ended, a cache hit); claims lease messages out; a removed task takes its
    /// messages with it.
    @Test(arguments: Store.allCases)
    func webhookMessagesComeWithTheEndAndAreLeased(_ kind: Store) async throws {
        let store = try await kind.make()
        var task = GenerationTask(request: PromptRequest(prompt: "x"), createdAt: t0)
        task.webhookURL = "https://example.com/hook"
        try await store.insert(task)
        let quiet = GenerationTask(request: PromptRequest(prompt: "no hook"), createdAt: t0)
        try await store.insert(quiet)
        try await store.transition(id: task.id, to: .running) { _ in }
        #expect(await store.webhooks(of: task.id).isEmpty)  // not ended yet
        try await store.transition(id: task.id, to: .queued) { _ in }  // a retry is no end either
        try await store.transition(id: task.id, to: .running) { _ in }
        try await store.transition(id: task.id, to: .failed) { $0.finishedAt = self.t0.addingTimeInterval(5) }
        try await store.transition(id: quiet.id, to: .cancelled) { $0.finishedAt = self.t0 }
        var cached = GenerationTask(request: PromptRequest(prompt: "cached"), createdAt: t0)
        cached.webhookURL = "https://example.com/other"
        cached.status = .completed
        cached.finishedAt = t0
        try await store.insert(cached)

        let messages = await store.webhooks(of: task.id)
        #expect(messages.count == 1)
        let message = try #require(messages.first)
        #expect(message.event == "task.failed" && message.url == "https://example.com/hook")
        #expect(message.id.hasPrefix("msg_") && message.status == .pending)
        #expect(message.createdAt == t0.addingTimeInterval(5))
        #expect(await store.webhooks(of: quiet.id).isEmpty)
        #expect(await store.webhooks(of: cached.id).map(\.event) == ["task.completed"])

        // Claimed once: leased out until the lease lapses.
        let now = Date()
        let claimed = await store.claimWebhooks(dueBy: now, lease: .seconds(30), limit: 10)
        #expect(Set(claimed.map(\.taskID)) == [task.id, cached.id])
        #expect(await store.claimWebhooks(dueBy: now, lease: .seconds(30), limit: 10).isEmpty)
        #expect(await store.claimWebhooks(dueBy: now.addingTimeInterval(31), lease: .seconds(30), limit: 1).count == 1)
        // An attempt recorded: delivered messages are never due again.
        var delivered = try #require(claimed.first { $0.taskID == task.id })
        delivered.status = .delivered
        delivered.nextAttemptAt = nil
        delivered.attempts = [.init(at: now, status: 204, error: nil, seconds: 0.01)]
        await store.updateWebhook(delivered)
        #expect(await store.webhooks(of: task.id) == [delivered])
        #expect(
            await store.claimWebhooks(dueBy: now.addingTimeInterval(3600), lease: .seconds(1), limit: 10).map(\.taskID)
                == [cached.id])
        // Retention removes the messages with their task.
        _ = await store.removeEnded(before: t0.addingTimeInterval(60))
        #expect(await store.webhooks(of: task.id).isEmpty)
        #expect(await store.webhooks(of: cached.id).isEmpty)
    }

    @Test func theSQLiteStoreKeepsEverythingAcrossReopening() async throws {
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("nested/tasks.sqlite").path
        var task = GenerationTask(request: PromptRequest(prompt: "a fox"), priority: .high)
        task.request.seed = 42
        task.loras = [.init(file: "a.safetensors", weight: 0.7)]
        task.caller = "shop"
        do {
            let store = try SQLiteTaskStore(path: path)
            try await store.insert(task)
            try await store.transition(id: task.id, to: .running) {
                $0.attempts = 1; $0.backend = "gpu0"; $0.promptID = $0.id
                $0.attemptList = [TaskAttempt(number: 1, backend: "gpu0", promptID: $0.id, startedAt: Date())]
                $0.graphModels = GraphModels(
                    of: try! Workflow(
                        json: Data(
                            #"{"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}}}"#
                                .utf8)))
            }
        }
        let reopened = try SQLiteTaskStore(path: path)
        let stored = try #require(await reopened.task(id: task.id))
        #expect(stored.status == .running && stored.backend == "gpu0" && stored.promptID == task.id)
        #expect(stored.request == task.request && stored.loras == task.loras && stored.caller == "shop")
        #expect(
            stored.priority == .high && stored.createdAt.timeIntervalSince1970 == task.createdAt.timeIntervalSince1970)
        #expect(await reopened.tasks(in: .running).map(\.id) == [task.id])
        #expect(stored.attemptList.map(\.backend) == ["gpu0"] && stored.graphModels?.checkpoints == ["m.safetensors"])
    }

    /// The decoded copies of recent writes: the last write of each task wins, the least recently written go
    /// first, and reads through the store always agree with the database.
    @Test func recentTasksKeepTheLastWritesWithinTheirCapacity() async throws {
        let recent = RecentTasks(capacity: 3)
        let tasks = (0..<5).map { GenerationTask(request: PromptRequest(prompt: "t\($0)")) }
        for task in tasks.prefix(3) { recent.put(task) }
        var rewritten = tasks[0]
        rewritten.attempts = 7
        recent.put(rewritten)  // t0 is now the most recent write
        recent.put(tasks[3])  // evicts t1, the least recently written
        #expect(recent.task(id: tasks[0].id)?.attempts == 7)
        #expect(recent.task(id: tasks[1].id) == nil)
        #expect(recent.task(id: tasks[2].id) != nil && recent.task(id: tasks[3].id) != nil)
        for _ in 0..<50 { recent.put(tasks[2]) }  // many rewrites of one task keep the others
        #expect(recent.task(id: tasks[0].id) != nil && recent.task(id: tasks[3].id) != nil)
        recent.remove([tasks[2].id])
        #expect(recent.task(id: tasks[2].id) == nil)

        // Through a store with more tasks than its cache holds: every read matches a fresh reader of the file.
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("recent.sqlite").path
        let store = try SQLiteTaskStore(path: path)
        var ids: [String] = []
        for index in 0..<5000 {
            let task = GenerationTask(request: PromptRequest(prompt: "p\(index)"))
            try await store.insert(task)
            if index.isMultiple(of: 7) { try await store.transition(id: task.id, to: .running) { $0.attempts = 1 } }
            ids.append(task.id)
        }
        await #expect(throws: TaskStoreError.self) {
            try await store.transition(id: ids[1], to: .completed) { $0.attempts = 9 }
        }
        let fresh = try SQLiteTaskStore(path: path)
        for id in ids.shuffled().prefix(500) + [ids[0], ids[1], ids[7], ids[4999]] {
            #expect(await store.task(id: id) == (await fresh.task(id: id)), "\(id)")
        }
    }

    @Test func priorityOrderWithAgingSoLowNeverStarves() {
        var queue = TaskQueue(capacity: 10, agingInterval: 30)
        queue.push(id: "low", priority: .low, at: t0)
        queue.push(id: "normal", priority: .normal, at: t0.addingTimeInterval(1))
        queue.push(id: "high", priority: .high, at: t0.addingTimeInterval(2))
        #expect(queue.position(of: "high") == 1)
        #expect(queue.position(of: "low") == 3)
        // 70 s later the waiting tasks keep their order among themselves, but the low one has aged past
        // fresh work of every level: a stream of new high-priority tasks cannot starve it.
        let later = t0.addingTimeInterval(70)
        queue.push(id: "fresh-high", priority: .high, at: later)
        var served: [String] = []
        while let next = queue.pop() { served.append(next.id) }
        #expect(served == ["high", "normal", "low", "fresh-high"])
    }

    @Test func sameLevelIsFirstComeFirstServed() {
        var queue = TaskQueue(capacity: 10)
        for i in 0..<5 { queue.push(id: "n\(i)", priority: .normal, at: t0.addingTimeInterval(Double(i))) }
        var served: [String] = []
        while let next = queue.pop() { served.append(next.id) }
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
        #expect(queue.position(of: "b") == 1)
        #expect(queue.position(of: "zzz") == nil)
    }

    /// One key's batch of a hundred does not hold back another key's single request: keys take turns.
    @Test func tenantsTakeTurnsWithinALevel() throws {
        var queue = TaskQueue(capacity: 1000)
        for i in 0..<100 {
            queue.push(id: "a\(i)", priority: .normal, at: t0.addingTimeInterval(Double(i)), tenant: "a")
        }
        _ = queue.pop()  // a0 runs
        queue.push(id: "b0", priority: .normal, at: t0.addingTimeInterval(200), tenant: "b")
        queue.push(id: "b1", priority: .normal, at: t0.addingTimeInterval(201), tenant: "b")
        queue.push(id: "c0", priority: .normal, at: t0.addingTimeInterval(202), tenant: "c")
        #expect(queue.position(of: "b0") == 2)
        #expect(queue.position(of: "c0") == 3)
        #expect(queue.count(tenant: "a") == 99 && queue.count(tenant: "b") == 2)
        var served: [String] = []
        for _ in 0..<7 { served.append(queue.pop()?.id ?? "-") }
        #expect(served == ["a1", "b0", "c0", "a2", "b1", "a3", "a4"])
        // A tenant at its cap passes its turn on.
        queue.push(id: "b2", priority: .normal, at: t0.addingTimeInterval(300), tenant: "b")
        #expect(queue.first(allowing: { $0 != "a" })?.id == "b2")
        #expect(queue.first(allowing: { _ in false }) == nil)
        // What a claim may fall back on: the same tenant's next tasks at the same level, holes skipped.
        queue.remove(id: "a6")
        let head = try #require(queue.first())
        #expect(head.id == "a5" && queue.following(head, upTo: 3).map(\.id) == ["a7", "a8", "a9"])
        #expect(queue.following(head, upTo: 0).isEmpty)
    }

    /// A pick carries what a shared store's claim may fall back on: the same tenant's next tasks (not the picked
    /// one, not another tenant's); after a `busy` answer nothing is picked until capacity may have freed, and
    /// then one claim at a time (until the next full read of the queue).
    @Test func picksCarryTheTenantsNextTasksAndBusyAnswersHoldPicksOff() throws {
        let pool = BackendPool(backends: [.init(name: "gpu", url: "http://10.0.0.1:8188", maxInFlight: 8)])
        pool.recordValidation("gpu", problem: nil)
        let scheduler = Scheduler(pool: pool, capacity: 100, agingInterval: 30, maxConcurrent: 8)
        for index in 0..<4 {
            _ = scheduler.enqueue(
                id: "a\(index)", priority: .normal, at: t0.addingTimeInterval(Double(index)), tenant: "a")
        }
        _ = scheduler.enqueue(id: "b0", priority: .normal, at: t0.addingTimeInterval(10), tenant: "b")
        let first = try #require(scheduler.next())
        #expect(first.id == "a0" && first.alternatives.map(\.id) == ["a1", "a2", "a3"])
        scheduler.claimAnswered(busy: true)
        scheduler.giveBack(first)
        #expect(scheduler.next() == nil)  // held off after busy
        scheduler.capacityMayHaveFreed()
        _ = try #require(scheduler.next())
        #expect(scheduler.next() == nil)  // contended: one claim at a time
        scheduler.claimAnswered(busy: false)
        #expect(scheduler.next() != nil)  // the answer came: the next claim may go
    }

    /// Aging still decides between levels: an old low-priority task of one key beats another key's fresh
    /// high-priority work.
    @Test func agingStillAppliesBetweenTenants() {
        var queue = TaskQueue(capacity: 100, agingInterval: 30)
        queue.push(id: "old-low", priority: .low, at: t0, tenant: "b")
        for i in 0..<5 {
            queue.push(id: "high\(i)", priority: .high, at: t0.addingTimeInterval(61 + Double(i)), tenant: "a")
        }
        #expect(queue.pop()?.id == "old-low")
    }

    /// Positions against the real order of service (the queue popped empty on a copy), over random pushes by
    /// several tenants, removals and pops: within a level every position is exact.
    @Test func positionsWithTenantsMatchTheOrderOfService() {
        var generator = SystemRandomNumberGenerator()
        var queue = TaskQueue(capacity: 100_000, agingInterval: 30, levels: 1)
        var ids: [String] = []
        var clock = 0.0
        for step in 0..<2000 {
            let roll = Int.random(in: 0..<10, using: &generator)
            if roll < 6 || ids.isEmpty {
                clock += Double.random(in: 0...3, using: &generator)
                let tenant = ["a", "a", "a", "b", "c", nil].randomElement(using: &generator)!
                queue.push(id: "t\(step)", priority: .normal, at: t0.addingTimeInterval(clock), tenant: tenant)
                ids.append("t\(step)")
            } else if roll < 8 {
                let victim = ids.remove(at: Int.random(in: 0..<ids.count, using: &generator))
                let removed = queue.remove(id: victim)
                #expect(removed)
            } else if let popped = queue.pop() {
                ids.removeAll { $0 == popped.id }
            }
            if step % 50 == 0 {
                var copy = queue
                var order: [String] = []
                while let next = copy.pop() { order.append(next.id) }
                #expect(order.count == ids.count && Set(order) == Set(ids))
                for (index, id) in order.enumerated() { #expect(queue.position(of: id) == index + 1) }
            }
        }
    }

    /// The queue against its definition (rank = level − waited / aging, ties by arrival, computed by brute force)
    /// over random pushes (some out of arrival order, as recovery makes), removals and pops, for 1, 2 and 3 levels.
    @Test(arguments: [1, 2, 3])
    func queueMatchesItsDefinition(levels: Int) {
        var generator = SystemRandomNumberGenerator()
        var queue = TaskQueue(capacity: 100_000, agingInterval: 30, levels: levels)
        var model: [TaskQueue.Entry] = []
        func level(_ priority: Priority) -> Double {
            Double(min(levels - 1, Priority.allCases.firstIndex(of: priority)!))
        }
        func order() -> [String] {
            model.sorted { a, b in
                let ra = level(a.priority) * 30 + a.enqueuedAt.timeIntervalSinceReferenceDate
                let rb = level(b.priority) * 30 + b.enqueuedAt.timeIntervalSinceReferenceDate
                return ra != rb ? ra < rb : a.enqueuedAt < b.enqueuedAt
            }.map(\.id)
        }
        var clock = 0.0
        for step in 0..<3000 {
            let roll = Int.random(in: 0..<10, using: &generator)
            if roll < 6 || model.isEmpty {
                // Mostly forward in time; one push in ten lands in the past.
                clock += Double.random(in: 0...5, using: &generator)
                let time = roll == 0 ? clock - Double.random(in: 0...200, using: &generator) : clock
                let entry = TaskQueue.Entry(
                    id: "t\(step)", priority: Priority.allCases.randomElement(using: &generator)!,
                    enqueuedAt: t0.addingTimeInterval(time))
                queue.forcePush(id: entry.id, priority: entry.priority, at: entry.enqueuedAt)
                model.append(entry)
            } else if roll < 8 {
                let victim = model.remove(at: Int.random(in: 0..<model.count, using: &generator))
                let removed = queue.remove(id: victim.id)
                #expect(removed)
            } else {
                let expected = order().first
                let popped = queue.pop()
                #expect(popped?.id == expected)
                model.removeAll { $0.id == expected }
            }
            if step % 97 == 0 {
                let expected = order()
                #expect(queue.ordered().map(\.id) == expected)
                for (index, id) in expected.enumerated().prefix(20) { #expect(queue.position(of: id) == index + 1) }
                if let last = expected.last { #expect(queue.position(of: last) == expected.count) }
                #expect(queue.counts.values.reduce(0, +) == model.count && queue.count == model.count)
            }
        }
    }

    /// A database written by the first schema gains image rows for the images its tasks already hold.
    @Test func theImageTableIsFilledFromTasksOfTheFirstSchema() async throws {
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("old.sqlite").path
        var task = GenerationTask(request: PromptRequest(prompt: "a vase"), createdAt: t0)
        task.status = .completed
        task.finishedAt = t0
        task.images = [TaskImage(file: "\(task.id)_0.png", node: "9", sourceFilename: "a.png", seed: 1)]
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteTaskStore.migrator.migrate(old, upTo: "v1: tasks")
            let body = String(decoding: try JSONEncoder().encode(task), as: UTF8.self)
            let (id, time) = (task.id, t0.timeIntervalSince1970)
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO task (id, status, priority, created_at, finished_at, attempts, body)
                        VALUES (?, 'completed', 'normal', ?, ?, 0, ?)
                        """,
                    arguments: [id, time, time, body])
            }
        }
        let store = try SQLiteTaskStore(path: path)
        #expect(await store.tasks(usingFile: "\(task.id)_0.png").map(\.id) == [task.id])
        let removed = await store.removeEnded(before: t0.addingTimeInterval(1))
        #expect(removed.unusedFiles == ["\(task.id)_0.png"])
    }
}
