import ComfySim
import Foundation
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `store.url: postgres://…` on a private PostgreSQL server: tasks there survive the gateway, the schema is
/// migrated once, and the gateway lists itself in `/status`.
@Suite("Tasks in PostgreSQL", .serialized)
struct PostgresStoreTests {
    @Test func tasksLiveInPostgresAcrossGatewayRestarts() async throws {
        let url = try PostgresCluster.shared().makeDatabase()
        var id = ""
        try await withGateway(configure: { $0.dispatch.storeURL = url }) { server, base, _ in
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
            #expect((store as? [String: Any])?["gateway_name"] as? String == ProcessInfo.processInfo.hostName + ":pid\(getpid())")
            // It lists itself among the gateways, alive.
            let gateways = try #require(try await send(base, "GET", "/status").json["gateways"] as? [[String: Any]])
            #expect(gateways.count == 1 && gateways[0]["alive"] as? Bool == true && gateways[0]["this"] as? Bool == true)
        }
        // The next gateway on that database finds the task, its images and its idempotency key.
        try await withGateway(configure: { $0.dispatch.storeURL = url }) { server, base, _ in
            try await server.dispatch.dispatcher.store.prepare()
            let task = try await send(base, "GET", "/api/v1/task/\(id)")
            #expect(task.json["status"] as? String == "completed")
            let replay = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox", "seed": 3, "webhook_url": null}"#,
                headers: ["Idempotency-Key": "pg-1"])
            #expect(replay.json["task_id"] as? String == id && replay.header("Idempotent-Replayed") == "true")
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
            "store: {url: \"postgres://g@db/p\", gateway_name: gw1, lease_timeout: 12, sync_interval: 0.5}", file: "c.yaml")
        #expect(shared.dispatch.gatewayName == "gw1" && shared.dispatch.leaseTimeout == .seconds(12))
        #expect(shared.dispatch.syncInterval == .milliseconds(500))
        let socket = try PostgresTaskStore.Location(url: "postgresql://gate@localhost/tasks?host=/run/postgresql")
        #expect(
            socket == (try PostgresTaskStore.Location(url: "postgres://gate@localhost:5432/tasks?host=/run/postgresql"))
        )
    }
}
