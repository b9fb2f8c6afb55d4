import ComfySim
import Foundation
import PromptGateAccess
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// Per API key: `max_running`, `max_queued`, and turns between keys within a priority.
@Suite("Tenant limits and fair share", .serialized)
struct TenantLimitsTests {
    static let keys = [
        APIKey(name: "bulk", secret: "bulk-key-123456")!, APIKey(name: "solo", secret: "solo-key-123456")!,
    ]
    static let bulk = ["X-API-Key": "bulk-key-123456"]
    static let solo = ["X-API-Key": "solo-key-123456"]

    func configure(_ limits: [String: TenantLimits], maxConcurrent: Int) -> (inout ServiceConfig) -> Void {
        { config in
            config.security.enabled = true
            config.security.apiKeys = Self.keys
            config.dispatch.tenantLimits = limits
            config.dispatch.maxConcurrent = maxConcurrent
            config.dispatch.maxQueueSize = 1000
            config.dispatch.backends = config.dispatch.backends.map {
                BackendPool.Backend(name: $0.name, url: $0.url, maxInFlight: maxConcurrent)
            }
        }
    }

    func generate(_ base: URL, _ headers: [String: String], _ prompt: String) async throws -> HTTPResult {
        try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "\#(prompt)"}"#, headers: headers)
    }

    /// One GPU slot, a 30-task batch from one key, then one request from another: it runs after at most one
    /// more of the batch, not after all of it.
    @Test func aBatchDoesNotStarveAnotherKeysSingleRequest() async throws {
        try await withGateway(
            [ComfySim(runTime: .milliseconds(60))], configure: configure([:], maxConcurrent: 1)
        ) { _, base, sims in
            var batch: [String] = []
            for i in 0..<30 {
                let answer = try await generate(base, Self.bulk, "product \(i)")
                batch.append(try #require(answer.json["task_id"] as? String, "\(answer.text)"))
            }
            let single = try #require(try await generate(base, Self.solo, "one portrait").json["task_id"] as? String)
            let startedBefore = sims.sims[0].receivedOrder.count
            let done = try await awaitTask(base, single, headers: Self.solo)
            #expect(done.json["status"] as? String == "completed")
            let order = sims.sims[0].receivedOrder
            let place = try #require(order.firstIndex(of: single))
            // Started right after what was running or next in turn when it arrived.
            // At most the batch task being sent when it arrived and the one whose turn came first.
            #expect(place <= startedBefore + 2, "solo ran \(place)th; \(startedBefore) had started before it came")
            #expect(order.count < 30, "the whole batch ran first")
            for id in batch { _ = try? await send(base, "DELETE", "/api/v1/task/\(id)", headers: Self.bulk) }
        }
    }

    @Test func maxRunningCapsAKeysTasksOnTheGPUs() async throws {
        try await withGateway(
            [ComfySim(runTime: .milliseconds(150))],
            configure: configure(["bulk": TenantLimits(maxRunning: 1)], maxConcurrent: 3)
        ) { server, base, _ in
            var ids: [String] = []
            for i in 0..<5 {
                ids.append(try #require(try await generate(base, Self.bulk, "p\(i)").json["task_id"] as? String))
            }
            let other = try #require(try await generate(base, Self.solo, "q").json["task_id"] as? String)
            let store = server.dispatch.dispatcher.store
            #expect(
                await TestSupport.eventually(timeout: .seconds(30)) { await store.tasks(in: .completed).count == 6 })
            // From the attempts' own times: the capped key's runs never overlapped, and the other key's task did
            // not wait for the capped key's batch to drain.
            var runs: [(start: Date, end: Date)] = []
            for id in ids {
                let task = try #require(await store.task(id: id))
                #expect(task.status == .completed)
                let attempt = try #require(task.attemptList.last)
                runs.append((attempt.startedAt, attempt.endedAt ?? .distantFuture))
            }
            runs.sort { $0.start < $1.start }
            for (earlier, later) in zip(runs, runs.dropFirst()) { #expect(earlier.end <= later.start) }
            let soloStart = try #require(await store.task(id: other)?.attemptList.first?.startedAt)
            #expect(soloStart < runs[runs.count - 1].start)
        }
    }

    @Test func maxQueuedRefusesWithQuotaQueued() async throws {
        try await withGateway(
            [ComfySim(runTime: .seconds(30))],
            configure: configure(["bulk": TenantLimits(maxQueued: 2)], maxConcurrent: 1)
        ) { server, base, _ in
            var accepted: [String] = []
            // One runs, two wait: the third waiting one is over the limit.
            for i in 0..<3 {
                let answer = try await generate(base, Self.bulk, "p\(i)")
                #expect(answer.status == 202, "\(answer.text)")
                accepted.append(try #require(answer.json["task_id"] as? String))
                if i == 0 {
                    #expect(
                        await TestSupport.eventually {
                            await server.dispatch.dispatcher.view(id: accepted[0])?.task.status == .running
                        })
                }
            }
            let refused = try await generate(base, Self.bulk, "p3")
            #expect(refused.status == 429, "\(refused.text)")
            #expect(refused.errorCode == "quota.queued")
            #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
            // Another key is not limited by it.
            #expect(try await generate(base, Self.solo, "q").status == 202)
            for id in accepted { _ = try? await send(base, "DELETE", "/api/v1/task/\(id)", headers: Self.bulk) }
        }
    }

    @Test func limitsAreReadFromTheKeyEntries() throws {
        let config = try ServiceConfig.parse(
            """
            security:
              api_keys:
                - {name: bulk, key: bulk-key-123456, max_running: 2, max_queued: 500}
                - {name: solo, key: solo-key-123456}
            """, file: "config.yaml")
        #expect(config.dispatch.tenantLimits == ["bulk": TenantLimits(maxRunning: 2, maxQueued: 500)])
        #expect {
            _ = try ServiceConfig.parse("security: {api_keys: [{key: k, max_running: 0}]}", file: "config.yaml")
        } throws: { "\($0)".contains("security.api_keys[0].max_running") }
    }
}
