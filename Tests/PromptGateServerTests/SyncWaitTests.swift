import ComfySim
import Foundation
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `POST /api/v1/generate` with `Prefer: wait=N` or `?wait=N`: 200 with the ended task, else the usual 202.
@Suite("Sync waits on generate", .serialized)
struct SyncWaitTests {
    static let body = #"{"prompt": "a red fox in the snow", "seed": 7}"#

    /// The ways to ask for a 10 s wait: (path, headers).
    static let askings: [(String, [String: String])] = [
        ("/api/v1/generate", ["Prefer": "wait=10"]),
        ("/api/v1/generate", ["Prefer": "respond-async, wait=10"]),
        ("/api/v1/generate", ["Prefer": #"handling=strict, WAIT="10"; extra=1"#]),
        ("/api/v1/generate?wait=10", [:]),
        ("/api/v1/generate?wait=10", ["Prefer": "wait=0"]),
    ]

    @Test(arguments: askings)
    func aTaskThatEndsInTimeIsAnsweredWhole(_ path: String, _ headers: [String: String]) async throws {
        try await withGateway { _, base, _ in
            let answer = try await send(base, "POST", path, body: Self.body, headers: headers)
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.json["status"] as? String == "completed")
            let id = try #require(answer.json["task_id"] as? String)
            #expect(answer.header("Location") == "/api/v1/task/\(id)")
            #expect(answer.header("Preference-Applied") == "wait=10")
            #expect(answer.header("Connection")?.lowercased() == "close")
            let images = try #require((answer.json["result"] as? [String: Any])?["images"] as? [[String: Any]])
            #expect(images.count == 1)
            // The same body GET /task shows.
            let shown = try await send(base, "GET", "/api/v1/task/\(id)")
            #expect(shown.json["status"] as? String == "completed")
            #expect(((shown.json["result"] as? [String: Any])?["images"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test func aFailedTaskIsAnsweredWholeToo() async throws {
        try await withGateway { _, base, sims in
            sims.sims[0].setFaults(SimFaults(executionError: true))
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: Self.body, headers: ["Prefer": "wait=10"])
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.json["status"] as? String == "failed")
            #expect(answer.errorCode == "comfyui.execution_error")
        }
    }

    @Test func aWaitThatRunsOutIsTheUsual202() async throws {
        try await withGateway([ComfySim(runTime: .seconds(30))]) { server, base, _ in
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: Self.body, headers: ["Prefer": "wait=1"])
            #expect(answer.status == 202, "\(answer.text)")
            #expect(["queued", "running"].contains(answer.json["status"] as? String ?? ""))
            #expect(answer.header("Preference-Applied") == "wait=1")
            let id = try #require(answer.json["task_id"] as? String)
            _ = try await send(base, "DELETE", "/api/v1/task/\(id)")
        }
    }

    @Test func longerWaitsAreCutToMaxWait() async throws {
        try await withGateway(
            [ComfySim(runTime: .seconds(30))], configure: { $0.server.maxWait = .seconds(1) }
        ) { _, base, _ in
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: Self.body, headers: ["Prefer": "wait=3600"])
            #expect(answer.status == 202)
            #expect(answer.header("Preference-Applied") == "wait=1")
            let id = try #require(answer.json["task_id"] as? String)
            _ = try await send(base, "DELETE", "/api/v1/task/\(id)")
        }
    }

    @Test func maxWaitZeroTurnsWaitsOff() async throws {
        try await withGateway(configure: { $0.server.maxWait = .zero }) { _, base, _ in
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: Self.body, headers: ["Prefer": "wait=10"])
            #expect(answer.status == 202)
            #expect(answer.header("Preference-Applied") == nil)
        }
    }

    /// Waits that are not whole seconds: (path, headers, field named).
    static let badWaits: [(String, [String: String], String)] = [
        ("/api/v1/generate?wait=abc", [:], "wait"),
        ("/api/v1/generate?wait=1.5", [:], "wait"),
        ("/api/v1/generate?wait=-1", [:], "wait"),
        ("/api/v1/generate?wait=", [:], "wait"),
        ("/api/v1/generate", ["Prefer": "wait=soon"], "Prefer"),
        ("/api/v1/generate", ["Prefer": "wait"], "Prefer"),
        ("/api/v1/generate", ["Prefer": "respond-async, wait=-5"], "Prefer"),
    ]

    @Test(arguments: badWaits)
    func aWaitThatIsNotWholeSecondsIs422(_ path: String, _ headers: [String: String], _ field: String) async throws {
        try await withGateway { server, base, _ in
            let answer = try await send(base, "POST", path, body: Self.body, headers: headers)
            #expect(answer.status == 422, "\(answer.text)")
            #expect(answer.errorCode == "request.invalid_value")
            #expect(
                ((answer.json["error"] as? [String: Any])?["details"] as? [String: String])?["field"] == field,
                "\(answer.text)")
            #expect(
                try await server.dispatch.dispatcher.store.page(caller: nil, status: nil, after: nil, limit: 5).isEmpty)
        }
    }

    @Test func cancelOnDisconnectMustBeABoolean() async throws {
        try await withGateway { _, base, _ in
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox", "cancel_on_disconnect": "yes"}"#,
                headers: ["Prefer": "wait=5"])
            #expect(answer.status == 422)
            #expect(
                ((answer.json["error"] as? [String: Any])?["details"] as? [String: String])?["field"]
                    == "cancel_on_disconnect")
        }
    }

    @Test func aRetryWithTheSameKeyWaitsForTheSameTask() async throws {
        try await withGateway { _, base, _ in
            let headers = ["Prefer": "wait=10", "Idempotency-Key": "batch-7-row-1"]
            let first = try await send(base, "POST", "/api/v1/generate", body: Self.body, headers: headers)
            let again = try await send(base, "POST", "/api/v1/generate", body: Self.body, headers: headers)
            #expect(first.status == 200 && again.status == 200, "\(first.text) \(again.text)")
            #expect(first.json["task_id"] as? String == again.json["task_id"] as? String)
            #expect(again.header("Idempotent-Replayed") == "true")
            #expect(again.json["status"] as? String == "completed")
        }
    }

    /// A client that goes away while waiting: its task runs on, unless it asked for a cancel.
    @Test(arguments: [false, true])
    func aClientThatDisconnectsWhileWaiting(cancelOnDisconnect: Bool) async throws {
        let runTime: Duration = cancelOnDisconnect ? .seconds(60) : .seconds(1)
        try await withGateway([ComfySim(runTime: runTime)]) { server, base, _ in
            let body = #"{"prompt": "a red fox", "cancel_on_disconnect": \#(cancelOnDisconnect)}"#
            let connection = try RawConnection(port: base.port!)
            connection.send(
                "POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nPrefer: wait=60\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let store = server.dispatch.dispatcher.store
            var task: GenerationTask?
            _ = try await TestSupport.eventually {
                task = try await store.page(caller: nil, status: .running, after: nil, limit: 1).first
                return task != nil
            }
            let id = try #require(task?.id)
            connection.close()
            let ended = try await awaitTask(base, id)
            #expect(
                ended.json["status"] as? String == (cancelOnDisconnect ? "cancelled" : "completed"), "\(ended.text)")
        }
    }
}
