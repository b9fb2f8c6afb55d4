import Foundation
import NIOPosix
import OpenAPIRuntime
import PromptGateCore
import PromptGateDispatch

/// The calls `promptgate submit` makes to a gateway, over libcurl (`CurlTransport`): submit a row with its
/// `Idempotency-Key`, follow a task by its Server-Sent Events (`GET /api/v1/task/{id}/events`, parsed by
/// OpenAPIRuntime's SSE decoder) or by polling `GET /api/v1/task/{id}`, and fetch its images.
public struct GatewayClient: Sendable {
    /// What a submission came to.
    public enum Submission: Sendable, Equatable {
        /// 202 (or 200 with a finished task): the task id and the body.
        case accepted(taskID: String, task: JSONValue)
        /// A 4xx/5xx answer with the envelope's code and message (and `Retry-After` seconds, if sent).
        case refused(status: Int, code: String, message: String, retryAfter: Int?)
    }

    /// A call that got no usable answer (connection refused, reset, not JSON).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What happened.
        public var description: String
    }

    let transport: CurlTransport
    let headers: [String]
    /// Statuses a task ends in.
    public static let terminal: Set<String> = ["completed", "failed", "cancelled", "expired"]

    /// - Parameters:
    ///   - server: the gateway's base URL (`http://127.0.0.1:8000`).
    ///   - key: the API key, sent as `Authorization: Bearer`.
    ///   - threadPool: where the blocking calls run; each followed event stream holds one thread.
    public init(server: String, key: String?, threadPool: NIOThreadPool) {
        transport = CurlTransport(baseURL: server, threadPool: threadPool)
        headers = key.map { ["Authorization: Bearer \($0)"] } ?? []
    }

    /// Checks that the gateway answers and takes the key (`GET /api/v1/tasks?limit=1`), before any row goes.
    /// - Throws: `Failure` saying what is wrong: unreachable, not a PromptGate, the key refused.
    public func check() async throws(Failure) {
        let response = try await call("GET", "/api/v1/tasks?limit=1", headers: headers)
        switch response.status {
        case 200: return
        case 401, 403:
            let body = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))
            throw Failure(
                description: "the gateway refused the key (\(response.status) "
                    + "\(body?["error"]?["code"]?.text ?? ""): \(body?["error"]?["message"]?.text ?? "")); "
                    + "give it with --key or PROMPTGATE_API_KEY")
        default:
            throw Failure(description: "GET /api/v1/tasks answered \(response.status): is this a PromptGate gateway?")
        }
    }

    /// `POST /api/v1/generate` with the row's body and `Idempotency-Key` for this attempt.
    public func submit(_ row: BatchRow, attempt: Int) async throws(Failure) -> Submission {
        let response = try await call(
            "POST", "/api/v1/generate", body: row.body,
            headers: headers + ["Idempotency-Key: \(row.idempotencyKey(attempt: attempt))"])
        let body = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))
        if (200..<300).contains(response.status), let id = body?["task_id"]?.text {
            return .accepted(taskID: id, task: body ?? .null)
        }
        return .refused(
            status: response.status, code: body?["error"]?["code"]?.text ?? "http.\(response.status)",
            message: body?["error"]?["message"]?.text ?? "the gateway answered \(response.status)",
            retryAfter: response.headers["retry-after"].flatMap { Int($0) })
    }

    /// `GET /api/v1/task/{id}`; nil when the gateway does not know it (404).
    public func task(_ id: String) async throws(Failure) -> JSONValue? {
        let response = try await call("GET", "/api/v1/task/\(id)", headers: headers)
        if response.status == 404 { return nil }
        guard response.status == 200, let task = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))
        else { throw Failure(description: "GET /api/v1/task/\(id) answered \(response.status)") }
        return task
    }

    /// Follows the task's event stream until its terminal event, telling `update` of every state on the way;
    /// returns the ended task. A stream that ends early (the gateway restarted, a proxy cut it) or cannot be
    /// opened throws, and the caller polls instead.
    public func follow(_ id: String, update: @Sendable (JSONValue) -> Void) async throws -> JSONValue {
        let (chunks, sink) = AsyncStream.makeStream(of: ArraySlice<UInt8>.self)
        let transport = transport, headers = headers
        let reading = Task {
            defer { sink.finish() }
            return try await transport.stream(
                "/api/v1/task/\(id)/events", headers: headers + ["Accept: text/event-stream"],
                idleTimeout: .seconds(60)
            ) { chunk in
                if Task.isCancelled { return false }
                sink.yield(ArraySlice(chunk))
                return true
            }
        }
        defer { reading.cancel() }
        for try await event in chunks.asDecodedServerSentEvents() {
            guard let data = event.data, let task = try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))
            else { continue }
            update(task)
            if let status = event.event, Self.terminal.contains(status) {
                sink.finish()
                return task
            }
        }
        let response = try await reading.value
        // 204: the task had ended before the stream opened.
        if response.status == 204, let task = try await task(id) { return task }
        throw Failure(description: "the event stream ended early (status \(response.status))")
    }

    /// Polls `GET /api/v1/task/{id}` every `interval` until the task ends.
    public func poll(_ id: String, every interval: Duration, update: @Sendable (JSONValue) -> Void)
        async throws -> JSONValue
    {
        while true {
            guard let task = try await task(id) else {
                throw Failure(description: "the gateway no longer knows task \(id)")
            }
            update(task)
            if let status = task["status"]?.text, Self.terminal.contains(status) { return task }
            try await Task.sleep(for: interval)
        }
    }

    /// `GET /output/{file}` into `destination` (written whole: a temporary file renamed into place).
    public func download(_ file: String, to destination: URL) async throws(Failure) {
        let escaped = file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file
        let response = try await call("GET", "/output/\(escaped)", headers: headers)
        guard response.status == 200, !response.body.isEmpty else {
            throw Failure(description: "GET /output/\(file) answered \(response.status)")
        }
        let temporary = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).part")
        do {
            try Data(response.body).write(to: temporary)
            _ = try? FileManager.default.removeItem(at: destination)
            try FileManager.default.moveItem(at: temporary, to: destination)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw Failure(description: "could not write \(destination.path): \(error.localizedDescription)")
        }
    }

    private func call(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String])
        async throws(Failure) -> CurlTransport.Response
    {
        do {
            return try await transport.send(method, path, body: body, headers: headers, timeout: .seconds(120))
        } catch let failure as CurlTransport.Failure {
            throw Failure(description: "\(method) \(path): \(failure.message)")
        } catch {
            throw Failure(description: "\(method) \(path): \(error)")
        }
    }
}
