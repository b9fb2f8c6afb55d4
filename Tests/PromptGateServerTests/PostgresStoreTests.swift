import ComfySim
import Foundation
import PromptGateAccess
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `store.url: postgres://…` on a private PostgreSQL server: tasks there survive the gateway, the schema is
/// migrated once, and the gateway lists itself in `/status`.
@Suite("Tasks in PostgreSQL", .serialized)
struct PostgresStoreTests {
    @Test func tasksLiveInPostgresAcrossGatewayRestarts() async throws {
        let url = try await PostgresCluster.shared().makeDatabase()
        var id = ""
        try await withGateway(configure: {
            $0.dispatch.storeURL = url; $0.dispatch.storeConnectTimeout = .seconds(60)
        }) { server, base, _ in
            try await server.dispatch.dispatcher.store.prepare()
            let accepted = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox", "seed": 3, "webhook_url": null}"#,
                headers: ["Idempotency-Key": "pg-1"])
            #expect(accepted.status == 202, "\(accepted.text)")
            id = try #require(accepted.json["task_id"] as? String)
            #expect(try await awaitTask(base, id).json["status"] as? String == "completed")
            let store = (try await send(base, "GET", "/status").json["config"] as? [String: Any])?["store"]
            #expect((store as? [String: Any])?["kind"] as? String == "postgresql")
            #expect(((store as? [String: Any])?["database"] as? String)?.hasPrefix("promptgate@") == true)
            #expect(
                (store as? [String: Any])?["gateway_name"] as? String == ProcessInfo.processInfo.hostName
                    + ":pid\(getpid())")
            // It lists itself among the gateways, alive.
            let gateways = try #require(try await send(base, "GET", "/status").json["gateways"] as? [[String: Any]])
            #expect(
                gateways.count == 1 && gateways[0]["alive"] as? Bool == true && gateways[0]["this"] as? Bool == true)
        }
        // The next gateway on that database finds the task, its images and its idempotency key.
        try await withGateway(configure: {
            $0.dispatch.storeURL = url; $0.dispatch.storeConnectTimeout = .seconds(60)
        }) { server, base, _ in
            try await server.dispatch.dispatcher.store.prepare()
            let task = try await send(base, "GET", "/api/v1/task/\(id)")
            #expect(task.json["status"] as? String == "completed")
            let replay = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox", "seed": 3, "webhook_url": null}"#,
                headers: ["Idempotency-Key": "pg-1"])
            #expect(replay.json["task_id"] as? String == id && replay.header("Idempotent-Replayed") == "true")
        }
    }

    /// Two gateways on one database, one backend: a burst spread over both is limited to the configured total,
    /// a retry with the same Idempotency-Key on the other gateway gets the same task, and each lists the other.
    @Test func twoGatewaysShareRateLimitsIdempotencyKeysAndTasks() async throws {
        let url = try await PostgresCluster.shared().makeDatabase()
        let output = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        try await LoopbackSims.with([ComfySim(runTime: .milliseconds(10))]) { sims in
            func config(_ name: String) -> ServiceConfig {
                var config = ServiceConfig()
                config.dispatch.storeURL = url
                // The shared test cluster answers slowly while every other suite runs beside it.
                config.dispatch.storeConnectTimeout = .seconds(60)
                config.dispatch.gatewayName = name
                config.dispatch.outputDirectory = output.path  // the shared output folder
                config.dispatch.healthInterval = .milliseconds(50)
                config.dispatch.backends = [BackendPool.Backend(name: "sim0", url: sims.urls[0], maxInFlight: 1)]
                config.security.enabled = true
                config.security.rateLimitEnabled = true
                // One a minute, burst 4: five at once in total, and nothing refills during the test.
                config.security.apiKeys = [
                    APIKey(name: "burst", secret: "burst-key", rateLimit: .init(requestsPerMinute: 1, burst: 4))!,
                    APIKey(name: "shop", secret: "shop-key")!,
                    APIKey(name: "ops", secret: "ops-key", isAdmin: true)!,
                ]
                return config
            }
            try await withServer(config("one")) { one, first in
                try await withServer(config("two")) { two, second in
                    try await one.dispatch.dispatcher.store.prepare()
                    try await two.dispatch.dispatcher.store.prepare()
                    var allowed = 0
                    for index in 0..<12 {
                        let answer = try await send(
                            index % 2 == 0 ? first : second, "POST", "/api/v1/moderate",
                            body: #"{"prompt": "a lamp"}"#, headers: ["X-API-Key": "burst-key"])
                        if answer.status == 200 {
                            allowed += 1
                        } else {
                            #expect(answer.status == 429 && answer.errorCode == "rate_limited", "\(answer.text)")
                        }
                    }
                    #expect(allowed == 5)
                    // The same key and body on the other gateway: the same task, replayed.
                    let body = #"{"prompt": "a green lamp", "seed": 5}"#
                    let headers = ["X-API-Key": "shop-key", "Idempotency-Key": "order-77"]
                    let created = try await send(first, "POST", "/api/v1/generate", body: body, headers: headers)
                    #expect(created.status == 202, "\(created.text)")
                    let id = try #require(created.json["task_id"] as? String)
                    let replay = try await send(second, "POST", "/api/v1/generate", body: body, headers: headers)
                    #expect(replay.json["task_id"] as? String == id && replay.header("Idempotent-Replayed") == "true")
                    // Either gateway runs it; both read it and its image.
                    let done = try await awaitTask(second, id, headers: ["X-API-Key": "shop-key"])
                    #expect(done.json["status"] as? String == "completed", "\(done.text)")
                    let seen = try await send(first, "GET", "/api/v1/task/\(id)", headers: ["X-API-Key": "shop-key"])
                    #expect(seen.json["status"] as? String == "completed")
                    let image = try await send(second, "GET", "/output/\(id)_0.png", headers: ["X-API-Key": "shop-key"])
                    #expect(image.status == 200)
                    let attempt = (done.json["attempts"] as? [[String: Any]])?.first
                    #expect(["one", "two"].contains(attempt?["gateway"] as? String ?? ""), "\(done.text)")
                    // Each lists both gateways, alive.
                    for base in [first, second] {
                        let status = try await send(base, "GET", "/status", headers: ["X-API-Key": "ops-key"])
                        let gateways = try #require(status.json["gateways"] as? [[String: Any]])
                        #expect(Set(gateways.compactMap { $0["name"] as? String }) == ["one", "two"])
                        #expect(gateways.allSatisfy { $0["alive"] as? Bool == true })
                        #expect(gateways.filter { $0["this"] as? Bool == true }.count == 1)
                    }
                }
            }
        }
    }

    @Test func anUnreachableDatabaseIsAClearError() async throws {
        let store = PostgresTaskStore(
            location: try .init(url: "postgres://nobody@localhost:1/none?host=/nonexistent"),
            connectTimeout: .milliseconds(500))
        do throws(TaskStoreError) {
            try await store.prepare()
            Issue.record("prepared against no server")
        } catch {
            #expect(error.code == "store.unavailable")
            #expect(
                error.message == "the database did not answer within 0.5 seconds (nobody@/nonexistent/.s.PGSQL.1/none)",
                "\(error.message)")
        }
        #expect(await store.task(id: "x") == nil)
        // Reads that must not pass for "no such task" or "no tasks" say why they failed.
        do throws(TaskStoreError) {
            _ = try await store.find(id: "x")
            Issue.record("a read of an unreachable database succeeded")
        } catch {
            #expect(error.code == "store.unavailable")
        }
        do throws(TaskStoreError) {
            _ = try await store.page(caller: nil, status: nil, after: nil, limit: 10)
            Issue.record("a listing of an unreachable database succeeded")
        } catch {
            #expect(error.code == "store.unavailable")
            #expect(DispatchError.store(error).kind == .unavailable && DispatchError.store(error).retryAfter == 5)
        }
        await #expect(throws: TaskStoreError.self) {
            try await store.insert(GenerationTask(request: .init(prompt: "x")))
        }
    }

    @Test(arguments: [
        ("store: {url: \"mysql://x/y\"}", "store.url"),
        ("store: {url: \"postgres://u@/db\"}", "store.url"),
        ("store: {url: \"postgres://u@h/db?sslmode=verify-full\"}", "store.url"),
        ("store: {url: \"postgres://u@h/db?application=x\"}", "store.url"),
        ("store: {url: \"postgres://u@h/db\", path: a.sqlite}", "store.url"),
        ("store: {path: a.sqlite, gateway_name: gw1}", "store.gateway_name"),
        ("store: {lease_timeout: 10}", "store.lease_timeout"),
        ("store: {url: \"postgres://u@h/db\", gateway_name: \"\"}", "store.gateway_name"),
        ("store: {url: \"postgres://u@h/db\", lease_timeout: 0}", "store.lease_timeout"),
        ("store: {url: \"postgres://u@h/db\", sync_interval: \"often\"}", "store.sync_interval"),
    ])
    func badStoreURLsAreRefusedWithTheKey(_ yaml: String, _ path: String) {
        #expect {
            _ = try ServiceConfig.parse(yaml, file: "config.yaml")
        } throws: { "\($0)".contains(path) }
    }

    @Test func storeURLsAreRead() throws {
        let config = try ServiceConfig.parse(
            "store: {url: \"postgres://gate:secret@db.internal:6432/promptgate?sslmode=require\"}", file: "c.yaml")
        #expect(config.dispatch.storeURL == "postgres://gate:secret@db.internal:6432/promptgate?sslmode=require")
        let shared = try ServiceConfig.parse(
            "store: {url: \"postgres://g@db/p\", gateway_name: gw1, lease_timeout: 12, sync_interval: 0.5}",
            file: "c.yaml")
        #expect(shared.dispatch.gatewayName == "gw1" && shared.dispatch.leaseTimeout == .seconds(12))
        #expect(shared.dispatch.syncInterval == .milliseconds(500))
        // Results are shared by default on a shared store; a configured backend stays as written.
        #expect(shared.dispatch.cache.effectiveBackend(sharedStore: true) == .database)
        #expect(config.dispatch.cache.effectiveBackend(sharedStore: false) == .memory)
        let local = try ServiceConfig.parse(
            "store: {url: \"postgres://g@db/p\"}\ncache: {backend: memory}", file: "c.yaml")
        #expect(local.dispatch.cache.effectiveBackend(sharedStore: true) == .memory)
        let socket = try PostgresTaskStore.Location(url: "postgresql://gate@localhost/tasks?host=/run/postgresql")
        #expect(
            socket == (try PostgresTaskStore.Location(url: "postgres://gate@localhost:5432/tasks?host=/run/postgresql"))
        )
    }
}
