import ComfySim
import Foundation
import PromptGateAccess
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `GET /api/v1/task/{id}/events`, read with a stock Server-Sent Events parser (mattt/EventSource).
@Suite("Task events (SSE)", .serialized)
struct TaskEventsTests {
    /// One event as a client sees it.
    struct SSE: Equatable {
        var id: String?
        var event: String?
        var data: String
    }

    /// Every event of a whole stream, parsed by the rules of the WHATWG HTML "event stream interpretation":
    /// lines end in LF, CR or CRLF; a blank line dispatches; `:` starts a comment; `field: value` with one
    /// leading space dropped; data lines are joined with LF; an event without data is not dispatched.
    static func parse(_ body: Data) -> [SSE] {
        let text = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\r", with: "\n")
        var events: [SSE] = []
        var id: String?, name: String?, data: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !data.isEmpty { events.append(SSE(id: id, event: name, data: data.joined(separator: "\n"))) }
                name = nil
                data = []
                continue
            }
            if line.hasPrefix(":") { continue }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch parts[0] {
            case "id": id = value
            case "event": name = value
            case "data": data.append(value)
            default: break
            }
        }
        return events
    }

    static func submit(_ base: URL, headers: [String: String] = [:]) async throws -> String {
        let accepted = try await send(
            base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox in the snow", "seed": 3}"#,
            headers: headers)
        return try #require(accepted.json["task_id"] as? String, "\(accepted.text)")
    }

    @Test func aTaskFromQueuedToCompleted() async throws {
        try await withGateway([ComfySim(runTime: .milliseconds(600))]) { _, base, _ in
            let id = try await Self.submit(base)
            let answer = try await send(base, "GET", "/api/v1/task/\(id)/events")
            #expect(answer.status == 200)
            #expect(answer.header("Content-Type") == "text/event-stream")
            #expect(answer.header("Cache-Control") == "no-cache")
            #expect(answer.header("X-Accel-Buffering") == "no")
            let events = Self.parse(answer.body)
            let names = events.compactMap(\.event)
            #expect(names.last == "completed", "\(names)")
            #expect(names.filter { $0 == "completed" }.count == 1)
            // Every event carries the task as GET /task shows it; progress never goes back.
            let bodies = events.map { (try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) as? [String: Any] }
            #expect(bodies.allSatisfy { $0?["task_id"] as? String == id })
            let progress = bodies.compactMap { $0?["progress"] as? Double }
            #expect(progress == progress.sorted(), "\(progress)")
            let last = try #require(bodies.last ?? nil)
            #expect(((last["result"] as? [String: Any])?["images"] as? [[String: Any]])?.count == 1)
            // Ids are distinct, so Last-Event-ID resumes exactly.
            let ids = events.compactMap(\.id)
            #expect(ids.count == events.count && Set(ids).count == ids.count, "\(ids)")
        }
    }

    @Test func resumingAfterTheEndIs204AndBeforeItSkipsWhatWasSeen() async throws {
        try await withGateway { _, base, _ in
            let id = try await Self.submit(base)
            _ = try await awaitTask(base, id)
            let whole = Self.parse(try await send(base, "GET", "/api/v1/task/\(id)/events").body)
            #expect(whole.map(\.event) == ["completed"])
            let endID = try #require(whole.last?.id)
            let after = try await send(base, "GET", "/api/v1/task/\(id)/events", headers: ["Last-Event-ID": endID])
            #expect(after.status == 204)
            // An id from before the end: the end is sent.
            let before = try await send(
                base, "GET", "/api/v1/task/\(id)/events", headers: ["Last-Event-ID": "1.1.500"])
            #expect(Self.parse(before.body).map(\.event) == ["completed"])
        }
    }

    @Test func aCancelEndsTheStreamWithTheError() async throws {
        try await withGateway([ComfySim(runTime: .seconds(60))]) { server, base, _ in
            let id = try await Self.submit(base)
            _ = await TestSupport.eventually { await server.dispatch.dispatcher.view(id: id)?.task.status == .running }
            Task {
                try? await Task.sleep(for: .milliseconds(300))
                _ = try? await send(base, "DELETE", "/api/v1/task/\(id)")
            }
            let events = Self.parse(try await send(base, "GET", "/api/v1/task/\(id)/events").body)
            #expect(events.first?.event == "running")
            #expect(events.last?.event == "cancelled")
            let last = try #require(events.last)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(last.data.utf8)) as? [String: Any])
            #expect((body["error"] as? [String: Any])?["code"] as? String == "cancelled")
        }
    }

    @Test func aQuietStreamSendsHeartbeats() async throws {
        try await withGateway(
            [ComfySim(runTime: .seconds(60))], configure: { $0.server.eventHeartbeat = .milliseconds(100) }
        ) { server, base, _ in
            let id = try await Self.submit(base)
            _ = await TestSupport.eventually { await server.dispatch.dispatcher.view(id: id)?.task.status == .running }
            let connection = try RawConnection(port: base.port!)
            connection.send("GET /api/v1/task/\(id)/events HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = await connection.read(until: ": heartbeat\n\n", occurrences: 2)
            #expect(text.contains("event: running"), "\(text)")
            #expect(text.components(separatedBy: ": heartbeat\n\n").count > 2, "\(text)")
            connection.close()
            _ = try await send(base, "DELETE", "/api/v1/task/\(id)")
        }
    }

    @Test func anotherKeysTaskIsNotFound() async throws {
        try await withGateway(configure: { config in
            config.security.enabled = true
            config.security.apiKeys = [
                APIKey(name: "shop", secret: "shop-key-123456")!, APIKey(name: "other", secret: "other-key-123456")!,
            ]
        }) { _, base, _ in
            let id = try await Self.submit(base, headers: ["Authorization": "Bearer shop-key-123456"])
            let theirs = try await send(
                base, "GET", "/api/v1/task/\(id)/events", headers: ["Authorization": "Bearer other-key-123456"])
            #expect(theirs.status == 404)
            let none = try await send(base, "GET", "/api/v1/task/\(id)/events")
            #expect(none.status == 401)
            let unknown = try await send(
                base, "GET", "/api/v1/task/nope/events", headers: ["Authorization": "Bearer shop-key-123456"])
            #expect(unknown.status == 404 && unknown.errorCode == "task.not_found")
        }
    }
}
