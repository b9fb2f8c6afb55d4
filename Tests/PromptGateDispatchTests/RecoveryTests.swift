import ComfySim
import Foundation
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import PromptGateTestSupport
import Testing

/// A dispatcher stopped mid-work and a new one started on the same store (an SQLite file, a PostgreSQL
/// database), as a restarted gateway: every task is known again, runs in progress are reconciled with the
/// backend by their `prompt_id`.
@Suite("Recovery from the store", .serialized)
struct RecoveryTests {
    /// Where the tasks live across the restart.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// A way to open the same store again, for each generation.
        func opener(folder: URL) async throws -> @Sendable () throws -> any TaskStore {
            switch self {
            case .sqlite:
                let path = folder.appendingPathComponent("tasks.sqlite").path
                return { try SQLiteTaskStore(path: path) }
            case .postgres:
                let location = try PostgresTaskStore.Location(url: try await PostgresCluster.shared().makeDatabase())
                return { PostgresTaskStore(location: location, connectTimeout: .seconds(60)) }
            }
        }
    }

    /// One dispatcher generation over the running sims, on the database at `path`.
    struct Generation {
        let dispatcher: Dispatcher
        let loop: Task<Void, Never>

        init(store: any TaskStore, urls: [String], output: String, threadPool: NIOThreadPool) throws {
            var settings = DispatchSettings()
            settings.outputDirectory = output
            settings.healthInterval = .milliseconds(50)
            settings.retryDelay = .milliseconds(20)
            settings.pollInterval = .milliseconds(2) ... .milliseconds(20)
            settings.presenceInterval = .milliseconds(50)
            settings.maxConcurrent = 1
            let graph = try Workflow(
                path: TestSupport.packageRoot.appendingPathComponent("workflows/nunchaku-flux.1-dev.api.json").path)
            let targets = urls.enumerated().map { index, url in
                Dispatcher.Target(
                    backend: .init(name: "sim\(index)", url: url, maxInFlight: 1),
                    client: ComfyUIClient(
                        transport: CurlTransport(baseURL: url, threadPool: threadPool), clientID: "recovery-\(index)",
                        requestTimeout: .seconds(2)))
            }
            let dispatcher = try Dispatcher(
                settings: settings, workflow: graph, binding: try WorkflowBinding(inferringFrom: graph),
                workflowName: "nunchaku", targets: targets, store: store)
            self.dispatcher = dispatcher
            loop = Task { await dispatcher.run() }
        }

        /// Stops the loop the way a shutdown does; runs in progress stay `running` in the store.
        func stop() async {
            loop.cancel()
            await loop.value
        }
    }

    func withRestart(
        _ kind: Kind, forget: Bool,
        _ check: (_ before: [String], _ sim: ComfySim, _ after: Dispatcher) async throws -> Void
    ) async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let open = try await kind.opener(folder: folder)
        let threadPool = NIOThreadPool(numberOfThreads: 4)
        threadPool.start()
        let sim = ComfySim(runTime: .milliseconds(400))
        try await LoopbackSims.with([sim]) { running in
            let first = try Generation(
                store: try open(), urls: running.urls, output: folder.path, threadPool: threadPool)
            var ids: [String] = []
            for i in 0..<4 {
                var task = GenerationTask(request: request("task \(i)", seed: UInt64(i + 1)))
                task.loras = []
                ids.append(try await first.dispatcher.submit(task).task.id)
            }
            // The first is on the backend when the gateway goes away.
            let sent = await TestSupport.eventually { sim.receivedOrder.contains(ids[0]) }
            #expect(sent)
            await first.stop()
            #expect(await first.dispatcher.store.task(id: ids[0])?.status == .running)
            if forget { sim.restart() }
            let second = try Generation(
                store: try open(), urls: running.urls, output: folder.path, threadPool: threadPool)
            let done = await TestSupport.eventually(timeout: .seconds(30)) {
                var all = true
                for id in ids where await second.dispatcher.store.task(id: id)?.status.isTerminal != true {
                    all = false
                }
                return all
            }
            #expect(done, "not every task ended after the restart")
            try await check(ids, sim, second.dispatcher)
            await second.stop()
        }
        try await threadPool.shutdownGracefully()
    }

    @Test(arguments: Kind.allCases)
    func aRunStillOnTheBackendIsFollowedNotSentAgain(_ kind: Kind) async throws {
        try await withRestart(kind, forget: false) { ids, sim, after in
            for id in ids { #expect(await after.store.task(id: id)?.status == .completed, "\(id)") }
            let resumed = try #require(await after.store.task(id: ids[0]))
            #expect(resumed.attempts == 1 && resumed.promptID == ids[0])
            #expect(resumed.images.count == 1)
            // Four tasks, four prompts: the one running at the restart was not queued a second time.
            #expect(sim.receivedOrder.count == 4)
            #expect(sim.receivedOrder.filter { $0 == ids[0] }.count == 1)
        }
    }

    @Test(arguments: Kind.allCases)
    func aRunTheBackendForgotIsRetriedAsANewAttempt(_ kind: Kind) async throws {
        try await withRestart(kind, forget: true) { ids, sim, after in
            for id in ids { #expect(await after.store.task(id: id)?.status == .completed, "\(id)") }
            let retried = try #require(await after.store.task(id: ids[0]))
            #expect(retried.attempts == 2 && retried.promptID != ids[0])
            #expect(sim.receivedOrder.contains(try #require(retried.promptID)))
        }
    }
}
