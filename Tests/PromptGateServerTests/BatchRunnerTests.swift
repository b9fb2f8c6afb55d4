import ComfySim
import Foundation
import NIOPosix
import PromptGateClient
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `promptgate submit`'s runner against an in-process gateway whose backend can be made to fail.
@Suite("Batch runner against a gateway", .serialized)
struct BatchRunnerTests {
    /// A task that failed for a reason another try may fix (the backend dropped the connection) gets a new task
    /// under a new key, and the row completes; a request the gateway refuses is not retried.
    @Test func retryableFailuresGetANewTaskAndRefusalsDoNot() async throws {
        try await withGateway(
            configure: { config in
                config.dispatch.maxRetries = 0
                config.dispatch.failureThreshold = 100  // the backend stays "up": the task is sent and fails
            }
        ) { server, base, sims in
            sims.sims[0].setFaults(SimFaults(dropConnections: true))
            let pool = NIOThreadPool(numberOfThreads: 6)
            pool.start()
            let folder = try TestSupport.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: folder) }
            let client = GatewayClient(server: base.absoluteString, key: nil, threadPool: pool)
            var options = BatchRunner.Options(folder: folder)
            options.maxBackoff = .milliseconds(200)
            let rows = try BatchInput.rows(
                Data(
                    """
                    {"id": "fox", "prompt": "a red fox in the snow"}
                    {"id": "gore", "prompt": "blood and gore everywhere"}
                    """.utf8), format: .jsonl)
            let progress = BatchProgress(total: rows.count, live: false, output: { _ in }, status: { _ in })
            let run = Task { try await BatchRunner(client: client, options: options).run(rows, progress: progress) }
            let store = server.dispatch.dispatcher.store
            #expect(await TestSupport.eventually(timeout: .seconds(30)) { await !store.tasks(in: .failed).isEmpty })
            sims.sims[0].setFaults(SimFaults())
            let records = try await run.value
            try await pool.shutdownGracefully()
            let fox = try #require(records.first { $0.row == "fox" })
            #expect(fox.status == "completed" && fox.attempts == 2 && fox.files == ["fox_0.png"])
            let failed = await store.tasks(in: .failed)
            #expect(failed.count == 1 && failed.first?.reason?.code == "comfyui.unreachable")
            #expect(await store.tasks(in: .completed).count == 1)
            let gore = try #require(records.first { $0.row == "gore" })
            #expect(gore.status == "refused" && gore.error?.code == "policy.blocked" && gore.attempts == 0)
            #expect(progress.counts.done == 1 && progress.counts.failed == 1 && progress.counts.images == 1)
        }
    }
}
