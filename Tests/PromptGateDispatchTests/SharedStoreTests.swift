import Foundation
import Logging
import PromptGateCore
@testable import PromptGateDispatch
import PromptGateTestSupport
import Synchronization
import Testing

/// Two gateways' stores on one PostgreSQL database (a private server, Debian's `postgresql`): claims count
/// every gateway's runs, leases lapse and are taken over, queue changes reach the other gateway, the rate
/// limit's state is one row for all.
@Suite("Several gateways on one PostgreSQL store", .serialized, .timeLimit(.minutes(2)))
struct SharedStoreTests {
    /// Two gateways' views of a fresh database.
    func pair(lease: Duration = .seconds(30)) async throws -> (PostgresTaskStore, PostgresTaskStore) {
        try await pairAndLocation(lease: lease).stores
    }

    func pairAndLocation(lease: Duration) async throws -> (
        stores: (PostgresTaskStore, PostgresTaskStore), location: PostgresTaskStore.Location
    ) {
        let location = try PostgresTaskStore.Location(url: try await PostgresCluster.shared().makeDatabase())
        return (
            (
                PostgresTaskStore(
                    location: location, connectTimeout: .seconds(60),
                    gateway: GatewayIdentity(name: "a", leaseTimeout: lease)),
                PostgresTaskStore(
                    location: location, connectTimeout: .seconds(60),
                    gateway: GatewayIdentity(name: "b", leaseTimeout: lease))
            ), location
        )
    }

    func queued(_ store: PostgresTaskStore, caller: String? = nil) async throws -> GenerationTask {
        var task = GenerationTask(request: PromptRequest(prompt: "x"))
        task.caller = caller
        try await store.insert(task)
        return task
    }

    static let begin: @Sendable (inout GenerationTask, String) -> Void = { task, backend in
        task.beginAttempt(on: backend)
    }

    @Test func maxInFlightAndMaxRunningHoldAcrossGateways() async throws {
        let (a, b) = try await pair()
        let first = try await queued(a), second = try await queued(a), third = try await queued(b)
        let gpu = [ClaimSlot(backend: "gpu", maxInFlight: 1)]
        guard case .claimed(let claimed) = try await a.claim(first.id, or: [], on: gpu, tenantLimit: nil, Self.begin)
        else {
            Issue.record("the first claim failed")
            return
        }
        #expect(claimed.status == .running && claimed.backend == "gpu" && claimed.attemptList.last?.gateway == "a")
        // The other gateway finds the backend full with a's run, and the claimed task gone.
        #expect(
            try await b.claim(second.id, or: [], on: gpu, tenantLimit: nil, Self.begin)
                == .busy(
                    "every backend offered runs its max_in_flight"))
        #expect(try await b.claim(first.id, or: [], on: gpu, tenantLimit: nil, Self.begin) == .gone)
        #expect(await b.task(id: second.id)?.status == .queued)
        // A second backend with room takes it.
        let both = gpu + [ClaimSlot(backend: "gpu2", maxInFlight: 1)]
        guard
            case .claimed(let elsewhere) = try await b.claim(second.id, or: [], on: both, tenantLimit: nil, Self.begin)
        else {
            Issue.record("the second backend was not used")
            return
        }
        #expect(elsewhere.backend == "gpu2" && elsewhere.attemptList.last?.gateway == "b")
        // A run ending frees its slot for everyone.
        try await a.transition(id: first.id, to: .completed) { $0.finishedAt = Date() }
        guard case .claimed = try await b.claim(third.id, or: [], on: gpu, tenantLimit: nil, Self.begin) else {
            Issue.record("the freed slot was not offered")
            return
        }
        // A tenant's max_running counts its runs on every gateway.
        let mine = try await queued(a, caller: "shop"), more = try await queued(b, caller: "shop")
        let wide = [ClaimSlot(backend: "gpu3", maxInFlight: 5)]
        guard case .claimed = try await a.claim(mine.id, or: [], on: wide, tenantLimit: 1, Self.begin) else {
            Issue.record("the tenant's first run was refused")
            return
        }
        #expect(
            try await b.claim(more.id, or: [], on: wide, tenantLimit: 1, Self.begin)
                == .busy("shop runs its max_running (1)"))
        guard case .claimed = try await b.claim(more.id, or: [], on: wide, tenantLimit: 2, Self.begin) else {
            Issue.record("a higher limit was refused")
            return
        }
    }

    @Test func aClaimTakesTheNextCandidateWhileAnotherGatewayIsTakingTheFirst() async throws {
        let (a, b) = try await pair()
        let first = try await queued(a), second = try await queued(a)
        let slots = [ClaimSlot(backend: "gpu", maxInFlight: 5)]
        // Another gateway's claim of `first` in progress: its row is locked until released.
        let (locked, lock) = AsyncStream.makeStream(of: Void.self)
        let (release, releaser) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await a.client.withTransaction(logger: a.logger) { connection in
                try await connection.query("SELECT id FROM task WHERE id = \(first.id) FOR UPDATE", logger: a.logger)
                lock.yield()
                for await _ in release {}
            }
        }
        for await _ in locked { break }
        // Without alternatives: busy (it may yet be given back), not gone.
        #expect(
            try await b.claim(first.id, or: [], on: slots, tenantLimit: nil, Self.begin)
                == .busy(
                    "another gateway is claiming it"))
        guard
            case .claimed(let task) = try await b.claim(
                first.id, or: [second.id], on: slots, tenantLimit: nil, Self.begin)
        else {
            Issue.record("the free alternative was not claimed")
            return
        }
        #expect(task.id == second.id && task.status == .running)
        releaser.finish()
        try await holder.value
        #expect(await b.task(id: first.id)?.status == .queued)
    }

    @Test func concurrentClaimsNeverExceedTheBackendsCapacity() async throws {
        let (a, b) = try await pair()
        var ids: [String] = []
        for _ in 0..<40 { ids.append(try await queued(a).id) }
        let slots = [ClaimSlot(backend: "gpu", maxInFlight: 3), ClaimSlot(backend: "gpu2", maxInFlight: 2)]
        // Both gateways try every task at once.
        let claimed = try await withThrowingTaskGroup(of: String?.self) { group in
            for id in ids {
                for store in [a, b] {
                    group.addTask {
                        if case .claimed(let task) = try await store.claim(
                            id, or: [], on: slots, tenantLimit: nil, Self.begin)
                        {
                            return task.id
                        }
                        return nil
                    }
                }
            }
            return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
        }
        #expect(claimed.count == 5 && Set(claimed).count == 5, "\(claimed)")
        let running = await a.tasks(in: .running)
        #expect(running.filter { $0.backend == "gpu" }.count == 3 && running.filter { $0.backend == "gpu2" }.count == 2)
    }

    @Test func aLapsedLeaseIsTakenOverAndTheOldHolderLearnsIt() async throws {
        let ((a, b), location) = try await pairAndLocation(lease: .seconds(30))
        _ = try await a.heartbeat(renewing: [])
        _ = try await b.heartbeat(renewing: [])
        let task = try await queued(a)
        _ = try await a.claim(
            task.id, or: [], on: [ClaimSlot(backend: "gpu", maxInFlight: 1)], tenantLimit: nil, Self.begin)
        #expect(try await a.heartbeat(renewing: [task.id]) == [task.id])
        #expect(await b.takeOverRuns(includingOwn: false).isEmpty)  // a's lease is fresh
        let listed = await b.gateways()
        #expect(Set(listed.map(\.name)) == ["a", "b"] && listed.allSatisfy(\.alive))
        #expect(listed.first { $0.name == "a" }?.leases == [task.id])
        // a stops beating and its lease lapses (the database's clock moved past it: set here, not waited for);
        // b takes the run over, and its current attempt names b.
        try await a.client.query("UPDATE task SET lease_until = 0 WHERE id = \(task.id)", logger: a.logger)
        let taken = await b.takeOverRuns(includingOwn: false)
        #expect(taken.map(\.id) == [task.id] && taken.first?.attemptList.last?.gateway == "b")
        #expect(taken.first?.status == .running && taken.first?.promptID == task.id)
        #expect(await b.takeOverRuns(includingOwn: false).isEmpty)  // once
        #expect(try await a.heartbeat(renewing: [task.id]).isEmpty)  // a learns it holds nothing
        #expect(await a.gateways().first { $0.name == "b" }?.leases == [task.id])
        // A restarted gateway of the same name takes its own runs back at once.
        let again = PostgresTaskStore(
            location: location, gateway: GatewayIdentity(name: "b", leaseTimeout: .seconds(30)))
        #expect(await again.takeOverRuns(includingOwn: true).map(\.id) == [task.id])
    }

    @Test func aGatewayStoppingGracefullyHandsItsRunsOverAtOnce() async throws {
        let (a, b) = try await pair()
        let task = try await queued(a)
        _ = try await a.claim(
            task.id, or: [], on: [ClaimSlot(backend: "gpu", maxInFlight: 1)], tenantLimit: nil, Self.begin)
        #expect(await b.takeOverRuns(includingOwn: false).isEmpty)  // a's 30 s lease holds
        await a.releaseLeases()
        #expect(await b.takeOverRuns(includingOwn: false).map(\.id) == [task.id])
    }

    /// Where `ErrorsLogged` keeps what it saw.
    final class Messages: Sendable {
        let list = Mutex<[String]>([])
    }

    /// Messages logged at error level, kept for the test to read.
    struct ErrorsLogged: LogHandler {
        let messages: Messages
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .error

        init(_ messages: Messages) { self.messages = messages }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { messages.list.withLock { $0.append("\(event.message)") } }
    }

    @Test func twoLiveGatewaysUnderOneNameAreReported() async throws {
        let location = try PostgresTaskStore.Location(url: try await PostgresCluster.shared().makeDatabase())
        let errors = Messages()
        let handler = ErrorsLogged(errors)
        let logger = Logger(label: "test") { _ in handler }
        let first = PostgresTaskStore(
            location: location, connectTimeout: .seconds(60),
            gateway: GatewayIdentity(name: "gw", leaseTimeout: .seconds(30)),
            logger: logger)
        let second = PostgresTaskStore(
            location: location, connectTimeout: .seconds(60),
            gateway: GatewayIdentity(name: "gw", leaseTimeout: .seconds(30)),
            logger: logger)
        // A restart under the same name (the first process's row is recent) is not a conflict...
        _ = try await first.heartbeat(renewing: [])
        _ = try await second.heartbeat(renewing: [])
        #expect(errors.list.withLock { $0 }.isEmpty)
        // ...but the first one beating again after the other wrote its row is.
        _ = try await first.heartbeat(renewing: [])
        #expect(
            errors.list.withLock { $0 }.contains { $0.contains("another live gateway uses this store.gateway_name") })
    }

    @Test func queueChangesReachTheOtherGateway() async throws {
        let (a, b) = try await pair()
        _ = try await b.heartbeat(renewing: [])
        var notices = b.queueNotices().makeAsyncIterator()
        #expect(await notices.next() == .resync)
        let task = try await queued(a, caller: "shop")
        guard case .queued(let entry, let from) = await notices.next() else {
            Issue.record("no queued notice")
            return
        }
        #expect(entry.id == task.id && entry.tenant == "shop" && entry.priority == .normal && from == "a")
        #expect(abs(entry.enqueuedAt.timeIntervalSince(task.createdAt)) < 0.001)
        _ = try await a.claim(
            task.id, or: [], on: [ClaimSlot(backend: "gpu", maxInFlight: 1)], tenantLimit: nil, Self.begin)
        #expect(await notices.next() == .left(task.id))
        // A retry re-enters the queue with the time it may start; a run's end is announced.
        let retryAt = Date().addingTimeInterval(10)
        try await a.transition(id: task.id, to: .queued) { $0.retryAt = retryAt }
        guard case .queued(let again, _) = await notices.next() else {
            Issue.record("no notice for the retry")
            return
        }
        #expect(abs((again.readyAt ?? .distantPast).timeIntervalSince(retryAt)) < 0.001)
        #expect(await notices.next() == .ended)
        #expect(await b.queueEntries().first?.readyAt != nil)
    }

    @Test func theRateLimitIsOneBucketForAllGateways() async throws {
        let (a, b) = try await pair()
        // 60 a minute, burst 2: three at once in total, whichever gateway they reach.
        let emission: Int64 = 1_000_000, tolerance: Int64 = 3_000_000
        var allowed = 0
        for store in [a, b, a, b, a, b] {
            allowed += try await store.rateLimitStep(
                bucket: "key:shop", emission: emission, tolerance: tolerance, wanted: 1
            ).granted
        }
        #expect(allowed == 3)
        let refused = try await b.rateLimitStep(bucket: "key:shop", emission: emission, tolerance: tolerance, wanted: 1)
        #expect(
            refused.granted == 0 && refused.arrival - refused.now > 2_000_000
                && refused.arrival - refused.now <= 3_000_000)
        // Batches: as many as fit, never more than the burst allows in total.
        let first = try await a.rateLimitStep(bucket: "key:bulk", emission: emission, tolerance: tolerance, wanted: 2)
        let second = try await b.rateLimitStep(bucket: "key:bulk", emission: emission, tolerance: tolerance, wanted: 2)
        let third = try await a.rateLimitStep(bucket: "key:bulk", emission: emission, tolerance: tolerance, wanted: 2)
        #expect(first.granted == 2 && second.granted == 1 && third.granted == 0)
        // Another bucket is untouched.
        #expect(
            try await a.rateLimitStep(bucket: "key:other", emission: emission, tolerance: tolerance, wanted: 1)
                .granted == 1)
    }
}
