import ComfySim
import Foundation
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

private let keys = [
    APIKey(name: "shop", secret: "shop-key-123456")!, APIKey(name: "other", secret: "other-key-123456")!,
    APIKey(name: "ops", secret: "ops-key-1234567", isAdmin: true)!,
]
private let shop = ["X-API-Key": "shop-key-123456"]
private let other = ["X-API-Key": "other-key-123456"]
private let ops = ["X-API-Key": "ops-key-1234567"]

@Suite("Result cache, idempotency keys and the task listing", .serialized)
struct DurableRoutesTests {
    @Test(arguments: [ResultCacheSettings.Backend.memory, .database])
    func identicalWorkIsDoneOnceAndItsFilesAreShared(backend: ResultCacheSettings.Backend) async throws {
        try await withGateway(configure: { config in
            config.dispatch.cache.backend = backend
            config.security.enabled = true
            config.security.apiKeys = keys
        }) { server, base, sims in
            let body = #"{"prompt": "a teapot on a table", "seed": 7}"#
            let first = try await send(base, "POST", "/api/v1/generate", body: body, headers: shop)
            let firstID = try #require(first.json["task_id"] as? String)
            let done = try await awaitTask(base, firstID, headers: shop)
            #expect(done.json["status"] as? String == "completed" && done.json["cached"] as? Bool == false)
            // The same graph from another key: completed at once from the cache, never sent to ComfySim.
            let hit = try await send(base, "POST", "/api/v1/generate", body: body, headers: other)
            #expect(
                hit.status == 202 && hit.json["status"] as? String == "completed" && hit.json["cached"] as? Bool == true
            )
            let hitID = try #require(hit.json["task_id"] as? String)
            #expect(sims.sims[0].received(promptID: hitID) == nil)
            #expect(sims.sims[0].receivedOrder == [firstID])
            let reused = try await send(base, "GET", "/api/v1/task/\(hitID)", headers: other)
            #expect(reused.json["cached"] as? Bool == true && reused.json["cached_from"] as? String == firstID)
            let images = try #require((reused.json["result"] as? [String: Any])?["images"] as? [[String: Any]])
            let file = try #require(images.first?["filename"] as? String)
            #expect(file.hasPrefix(firstID))
            // The shared file is the other key's too (through its own task); not a stranger's.
            #expect(try await send(base, "GET", "/output/\(file)", headers: other).status == 200)
            // A different seed, size or LoRA is different work.
            for variant in [
                #"{"prompt": "a teapot on a table", "seed": 8}"#,
                #"{"prompt": "a teapot on a table", "seed": 7, "width": 768}"#,
                #"{"prompt": "a teapot on a table", "seed": 7, "loras": [{"name": "ghibsky", "weight": 0.5}]}"#,
            ] {
                let answer = try await send(base, "POST", "/api/v1/generate", body: variant, headers: shop)
                #expect(answer.json["status"] as? String == "queued", "\(variant)")
            }
            // Retention of the first task keeps the file the cached task still uses; it goes with the last user.
            let store = server.dispatch.dispatcher.store
            let hitEnded = try #require(await store.task(id: hitID)?.finishedAt)
            let early = await store.removeEnded(before: hitEnded)
            #expect(early.tasks.map(\.id) == [firstID] && early.unusedFiles.isEmpty)
            #expect(try await send(base, "GET", "/output/\(file)", headers: other).status == 200)
            let late = await store.removeEnded(before: Date().addingTimeInterval(60))
            #expect(late.tasks.contains { $0.id == hitID } && late.unusedFiles.contains(file))
        }
    }

    @Test func cacheOffRunsEverything() async throws {
        try await withGateway(configure: { $0.dispatch.cache.enabled = false }) { _, base, sims in
            let body = #"{"prompt": "a teapot", "seed": 7}"#
            for _ in 0..<2 {
                let id = try #require(
                    try await send(base, "POST", "/api/v1/generate", body: body).json["task_id"] as? String)
                #expect(try await awaitTask(base, id).json["status"] as? String == "completed")
            }
            #expect(sims.sims[0].receivedOrder.count == 2)
        }
    }

    @Test func idempotencyKeyReplaysConflictsAndIsPerCaller() async throws {
        try await withGateway(configure: { config in
            config.security.enabled = true
            config.security.apiKeys = keys
        }) { server, base, _ in
            let body = #"{"prompt": "a lamp", "seed": 1}"#
            let headers = shop.merging(["Idempotency-Key": "order-17"]) { $1 }
            let first = try await send(base, "POST", "/api/v1/generate", body: body, headers: headers)
            #expect(first.status == 202 && first.header("Idempotent-Replayed") == nil)
            let id = try #require(first.json["task_id"] as? String)
            let again = try await send(base, "POST", "/api/v1/generate", body: body, headers: headers)
            #expect(again.status == 202 && again.header("Idempotent-Replayed") == "true")
            #expect(again.text == first.text)  // the stored answer, byte for byte
            #expect(again.header("Location") == "/api/v1/task/\(id)")
            let changed = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a lamp", "seed": 2}"#, headers: headers)
            #expect(changed.status == 422 && changed.errorCode == "idempotency.key_reused")
            // Another key's "order-17" is its own.
            let theirs = try await send(
                base, "POST", "/api/v1/generate", body: body,
                headers: other.merging(["Idempotency-Key": "order-17"]) { $1 })
            #expect(theirs.status == 202 && theirs.json["task_id"] as? String != id)
            for bad in [String(repeating: "k", count: 256), "caf\u{e9}"] {
                let answer = try await send(
                    base, "POST", "/api/v1/generate", body: body, headers: shop.merging(["Idempotency-Key": bad]) { $1 }
                )
                #expect(answer.status == 400 && answer.errorCode == "idempotency.invalid_key", "\(bad)")
            }
            // While a first request with a key is being accepted, a second gets 409 with Retry-After.
            let key = IdempotencyKey(scope: "key:shop", key: "busy-1")
            #expect(server.idempotencyInFlight.claim(key))
            let busy = try await send(
                base, "POST", "/api/v1/generate", body: body,
                headers: shop.merging(["Idempotency-Key": "busy-1"]) { $1 })
            #expect(
                busy.status == 409 && busy.errorCode == "idempotency.in_progress" && busy.header("Retry-After") == "1")
            server.idempotencyInFlight.release(key)
            #expect(
                try await send(
                    base, "POST", "/api/v1/generate", body: body,
                    headers: shop.merging(["Idempotency-Key": "busy-1"]) { $1 }
                ).status == 202)
        }
    }

    @Test func listingPagesNewestFirstByStatusAndOwner() async throws {
        let down = ComfySim()
        down.setFaults(SimFaults(http500: true))  // nothing runs: everything stays queued
        try await withGateway(
            [down],
            configure: { config in
                config.security.enabled = true
                config.security.apiKeys = keys
            }
        ) { _, base, _ in
            var mine: [String] = []
            for index in 0..<5 {
                let body = #"{"prompt": "shoe \#(index)"}"#
                mine.append(
                    try #require(
                        try await send(base, "POST", "/api/v1/generate", body: body, headers: shop).json["task_id"]
                            as? String))
            }
            let theirs = try #require(
                try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "hat"}"#, headers: other).json[
                    "task_id"] as? String)
            _ = try await send(base, "DELETE", "/api/v1/task/\(mine[0])", headers: shop)
            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/api/v1/tasks?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await send(base, "GET", path, headers: shop)
                #expect(page.status == 200)
                seen += (page.json["tasks"] as? [[String: Any]] ?? []).compactMap { $0["task_id"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == mine.reversed())
            let queued = try await send(base, "GET", "/api/v1/tasks?status=queued", headers: shop)
            let queuedTasks = queued.json["tasks"] as? [[String: Any]] ?? []
            #expect(queuedTasks.compactMap { $0["task_id"] as? String } == mine.dropFirst().reversed())
            // Keys take turns: the newest of "shop" waits behind its three others and "other"'s one task.
            #expect(queuedTasks.first?["position"] as? Int == 5)
            let all = try await send(base, "GET", "/api/v1/tasks", headers: ops)
            #expect((all.json["tasks"] as? [[String: Any]])?.first?["task_id"] as? String == theirs)
            for (query, field) in [
                ("status=done", "status"), ("limit=0", "limit"), ("limit=x", "limit"), ("cursor=zz", "cursor"),
            ] {
                let answer = try await send(base, "GET", "/api/v1/tasks?\(query)", headers: shop)
                #expect(answer.status == 422 && answer.errorCode == "request.invalid_value", "\(query)")
                #expect(answer.text.contains(field))
            }
            #expect(try await send(base, "GET", "/api/v1/tasks").status == 401)
        }
    }

    /// `default_params` retune the bundled presets; an operator's own preset file still wins; the request wins over both.
    @Test func defaultParamsSitBetweenPresetFilesAndTheBundledValues() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        name: shop
        extends: default
        defaults: {steps: 12}
        """.write(to: folder.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        var config = ServiceConfig()
        config.presetPaths = [folder.path]
        config.defaultParams = DefaultParams(steps: 30, sampler: "dpmpp_2m")
        config.server.workers = 1  // one HTTP event loop of its own
        try await withServer(config) { _, base in
            func request(_ body: String) async throws -> [String: Any] {
                try #require(
                    try await send(base, "POST", "/api/v1/moderate", body: body).json["request"] as? [String: Any])
            }
            let bundled = try await request(#"{"prompt": "a red fox"}"#)
            #expect(bundled["steps"] as? Int == 30 && bundled["sampler"] as? String == "dpmpp_2m")
            #expect(bundled["cfg_scale"] as? Double == 3.5)  // not in default_params: the bundled value
            let shop = try await request(#"{"prompt": "a red fox", "preset": "shop"}"#)
            #expect(shop["steps"] as? Int == 12 && shop["sampler"] as? String == "dpmpp_2m")
            let asked = try await request(#"{"prompt": "a red fox", "preset": "shop", "steps": 4}"#)
            #expect(asked["steps"] as? Int == 4)
        }
    }
}
