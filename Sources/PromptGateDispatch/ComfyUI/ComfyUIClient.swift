import Foundation
import PromptGateCore

/// What went wrong talking to ComfyUI, split the way the dispatcher acts on it.
public enum ComfyUIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Worth another try, maybe on another backend: connection refused or reset, timeout, 5xx, a body that
    /// is not the JSON expected.
    case unavailable(ComfyUIFailure)
    /// ComfyUI refused the workflow (400): final. `nodeErrors` is its `node_errors` (node → input → message).
    case rejected(type: String, message: String, nodeErrors: JSONValue?)

    /// A plain sentence (logs, `/status`).
    public var description: String {
        switch self {
        case .unavailable(let failure): failure.description
        case .rejected(let type, let message, _): "ComfyUI refused the workflow (\(type)): \(message)"
        }
    }

    /// As a task's or backend's reason: the stable code, the sentence, and ComfyUI's `node_errors` or the call
    /// and libcurl's words as details.
    public var reason: TaskReason {
        switch self {
        case .unavailable(let failure): failure.reason()
        case .rejected(_, _, let nodeErrors):
            TaskReason(code: "comfyui.rejected", message: description, details: nodeErrors)
        }
    }
}

/// A call to ComfyUI that got no usable answer: a stable code, a sentence for people, and what was asked and
/// what came back as details.
public struct ComfyUIFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure, as its stable code.
    public enum Kind: String, Sendable {
        /// Refused, reset or not resolved: nothing listens there, or the connection broke.
        case unreachable = "comfyui.unreachable"
        /// No answer within `comfyui.request_timeout`.
        case timeout = "comfyui.timeout"
        /// A 5xx.
        case serverError = "comfyui.server_error"
        /// An answer, but not the one ComfyUI gives (not JSON, an unexpected status or shape).
        case badAnswer = "comfyui.bad_answer"
    }

    /// The failure class.
    public var kind: Kind
    /// The call, `GET /history/<id>`.
    public var request: String
    /// What came back: libcurl's message or the status.
    public var detail: String

    /// - Parameters:
    ///   - kind: the failure class.
    ///   - request: the call (method and path).
    ///   - detail: libcurl's message, or what the answer was.
    public init(_ kind: Kind, request: String, detail: String) {
        self.kind = kind
        self.request = request
        self.detail = detail
    }

    /// A failure libcurl reported (no HTTP answer).
    init(curl failure: CurlTransport.Failure, request: String) {
        // CURLE_OPERATION_TIMEDOUT is 28; every other transport error means the server could not be used.
        self.init(failure.code == 28 ? .timeout : .unreachable, request: request, detail: failure.message)
    }

    /// The stable code, `comfyui.unreachable`.
    public var code: String { kind.rawValue }

    /// The sentence for people.
    public var description: String {
        switch kind {
        case .unreachable: "the backend could not be reached (\(detail))"
        case .timeout: "the backend did not answer within comfyui.request_timeout"
        case .serverError: "the backend answered with a server error (\(detail))"
        case .badAnswer: "the backend gave an answer ComfyUI does not give (\(detail))"
        }
    }

    /// `{"request": ..., "detail": ...}` for the task's or backend's reason.
    public var details: JSONValue { ["request": .string(request), "detail": .string(detail)] }

    /// As a reason, its sentence led by what the caller was doing (`could not queue the prompt: ...`).
    public func reason(doing: String? = nil) -> TaskReason {
        TaskReason(code: code, message: doing.map { "\($0): \(description)" } ?? description, details: details)
    }
}

/// One output file of a finished prompt.
public struct ComfyUIOutput: Sendable, Equatable {
    /// The node that produced it.
    public var node: String
    /// ComfyUI's file name.
    public var filename: String
    /// Its subfolder under ComfyUI's output folder.
    public var subfolder: String
    /// `output` or `temp`.
    public var type: String
}

/// A finished prompt as `/history` records it.
public struct ComfyUIHistory: Sendable, Equatable {
    /// How a finished prompt ended, from the last of ComfyUI's status messages that says.
    public enum Outcome: String, Sendable, Equatable {
        case success = "execution_success"
        case error = "execution_error"
        case interrupted = "execution_interrupted"
    }

    /// How the prompt ended (`error` when the history says nothing about it).
    public var outcome: Outcome
    /// Every image the prompt produced.
    public var outputs: [ComfyUIOutput]
    /// The `execution_error` data (node, exception message) when it failed.
    public var error: JSONValue?
}

/// The calls the dispatcher makes (recorded from ComfyUI v0.3.64, see docs/comfyui-protocol.md).
public struct ComfyUIClient: Sendable {
    /// The HTTP transport (libcurl).
    public let transport: CurlTransport
    /// The `client_id` sent with prompts, so ComfyUI's WebSocket reports their events to us.
    public let clientID: String
    /// Limit for one call (connect + answer); a hung server becomes a retryable failure after it.
    public let requestTimeout: Duration

    /// A client over `transport`; each request gives up after `requestTimeout`.
    public init(transport: CurlTransport, clientID: String, requestTimeout: Duration = .seconds(30)) {
        self.transport = transport
        self.clientID = clientID
        self.requestTimeout = requestTimeout
    }

    /// `POST /prompt` with our own `prompt_id` (a lowercase UUID, stored before sending) and `client_id`.
    public func queue(_ workflow: Workflow, promptID: String) async throws(ComfyUIError) {
        let body: JSONValue = ["prompt": workflow.json, "prompt_id": .string(promptID), "client_id": .string(clientID)]
        let response = try await send("POST", "/prompt", body: body)
        switch response.status {
        case 200:
            // 200 with node_errors means some outputs will not run: a failure for a job that needs them all.
            guard let object = Self.object(response.body) else {
                throw .unavailable(ComfyUIFailure(.badAnswer, request: "POST /prompt", detail: "200 without JSON"))
            }
            if case .object(let nodes)? = object["node_errors"], !nodes.isEmpty {
                throw .rejected(
                    type: "prompt_outputs_failed_validation", message: "some outputs failed validation",
                    nodeErrors: object["node_errors"])
            }
            return
        case 400:
            let object = Self.object(response.body)
            var type = "invalid_prompt", message = "ComfyUI refused the workflow"
            if case .object(let error)? = object?["error"] {
                if case .string(let t)? = error["type"] { type = t }
                if case .string(let m)? = error["message"] { message = m }
            }
            throw .rejected(type: type, message: message, nodeErrors: object?["node_errors"])
        default:
            throw .unavailable(ComfyUIFailure(.badAnswer, request: "POST /prompt", detail: "status \(response.status)"))
        }
    }

    /// `GET /history/{id}`: nil while the prompt is queued or running (ComfyUI answers `{}` then).
    public func history(promptID: String) async throws(ComfyUIError) -> ComfyUIHistory? {
        let response = try await send("GET", "/history/\(promptID)")
        // Typed decoding skips the stored graph (the whole workflow, in every entry) instead of building it.
        guard response.status == 200,
            let entries = try? Self.decoder.decode([String: HistoryEntry].self, from: Data(response.body))
        else {
            throw .unavailable(
                ComfyUIFailure(
                    .badAnswer, request: "GET /history/\(promptID)", detail: "status \(response.status) or not JSON"))
        }
        return entries[promptID].map(ComfyUIHistory.init)
    }

    private static let decoder = JSONDecoder()

    /// The parts of a `/history` entry the dispatcher reads; unknown keys and shapes are skipped, never fatal
    /// (node outputs may be `images`, `gifs`, `text`...; only entries with a `filename` are files).
    struct HistoryEntry: Decodable {
        struct Status: Decodable {
            var messages: [Message]?
        }

        /// `[event, data]`; data is kept only for the terminal events.
        struct Message: Decodable {
            var event: String?
            var data: JSONValue?

            init(from decoder: any Decoder) throws {
                var pair = try decoder.unkeyedContainer()
                event = try? pair.decode(String.self)
                if let event, event.hasPrefix("execution_"), event != "execution_start", event != "execution_cached",
                    !pair.isAtEnd
                {
                    data = try? pair.decode(JSONValue.self)
                }
            }
        }

        struct File: Decodable {
            var filename: String
            var subfolder: String?
            var type: String?
        }

        /// One item of an output list: a file, or something else (text, numbers) that is skipped.
        struct Item: Decodable {
            var file: File?
            init(from decoder: any Decoder) throws { file = try? File(from: decoder) }
        }

        /// Output kind → items; kinds whose value is not a list are skipped.
        struct Kinds: Decodable {
            var lists: [String: [Item]] = [:]

            /// The files among the items, as outputs of `node`, kinds in name order.
            func outputs(of node: String) -> [ComfyUIOutput] {
                lists.sorted(by: { $0.key < $1.key }).flatMap { _, items in
                    items.compactMap(\.file).map {
                        ComfyUIOutput(
                            node: node, filename: $0.filename, subfolder: $0.subfolder ?? "", type: $0.type ?? "output")
                    }
                }
            }

            init(from decoder: any Decoder) throws {
                guard let container = try? decoder.container(keyedBy: AnyCodingKey.self) else { return }
                for key in container.allKeys {
                    if let items = try? container.decode([Item].self, forKey: key) { lists[key.stringValue] = items }
                }
            }
        }

        var status: Status?
        var outputs: [String: Kinds]?

        enum CodingKeys: String, CodingKey { case status, outputs }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try? container.decodeIfPresent(Status.self, forKey: .status)
            outputs = try? container.decodeIfPresent([String: Kinds].self, forKey: .outputs)
        }
    }

    /// `GET /view` for one output file.
    public func view(_ output: ComfyUIOutput) async throws(ComfyUIError) -> [UInt8] {
        let response = try await send("GET", Self.viewPath(output))
        guard response.status == 200 else {
            throw .unavailable(ComfyUIFailure(.badAnswer, request: "GET /view", detail: "status \(response.status)"))
        }
        return response.body
    }

    /// `GET /view` for one output file, handing the bytes to `save` on the transport's thread (a blocking
    /// file write without another thread hop).
    public func view(_ output: ComfyUIOutput, save: @escaping @Sendable ([UInt8]) throws -> Void)
        async throws(ComfyUIError)
    {
        do {
            try await transport.send("GET", Self.viewPath(output), timeout: requestTimeout) { response in
                guard response.status == 200 else {
                    throw ComfyUIError.unavailable(
                        ComfyUIFailure(.badAnswer, request: "GET /view", detail: "status \(response.status)"))
                }
                try save(response.body)
            }
        } catch let error as ComfyUIError {
            throw error
        } catch let failure as CurlTransport.Failure {
            throw .unavailable(ComfyUIFailure(curl: failure, request: "GET /view"))
        } catch {
            // The save failed: the output folder, not the backend.
            throw .unavailable(ComfyUIFailure(.badAnswer, request: "GET /view", detail: "could not save: \(error)"))
        }
    }

    static func viewPath(_ output: ComfyUIOutput) -> String {
        let query = [("filename", output.filename), ("subfolder", output.subfolder), ("type", output.type)]
            .map {
                "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? "")"
            }
            .joined(separator: "&")
        return "/view?\(query)"
    }

    /// `GET /object_info`: every node class the server has, with its inputs (for validating workflows).
    public func objectInfo() async throws(ComfyUIError) -> [String: JSONValue] {
        let response = try await send("GET", "/object_info")
        guard response.status == 200, let object = Self.object(response.body) else {
            throw .unavailable(
                ComfyUIFailure(.badAnswer, request: "GET /object_info", detail: "status \(response.status) or not JSON")
            )
        }
        return object
    }

    /// `GET /system_stats` (the health check).
    public func systemStats() async throws(ComfyUIError) -> JSONValue {
        let response = try await send("GET", "/system_stats")
        guard response.status == 200, let object = Self.object(response.body) else {
            throw .unavailable(
                ComfyUIFailure(
                    .badAnswer, request: "GET /system_stats", detail: "status \(response.status) or not JSON"))
        }
        return .object(object)
    }

    /// `POST /interrupt` for one prompt (only interrupts it if it is the one running).
    public func interrupt(promptID: String) async throws(ComfyUIError) {
        let response = try await send("POST", "/interrupt", body: ["prompt_id": .string(promptID)])
        guard response.status == 200 else {
            throw .unavailable(
                ComfyUIFailure(.badAnswer, request: "POST /interrupt", detail: "status \(response.status)"))
        }
    }

    /// `GET /queue`: the prompt ids running and waiting on the server (each item's graph is skipped).
    public func queued() async throws(ComfyUIError) -> Set<String> {
        let response = try await send("GET", "/queue")
        guard response.status == 200, let queue = try? Self.decoder.decode(QueueState.self, from: Data(response.body))
        else {
            throw .unavailable(
                ComfyUIFailure(.badAnswer, request: "GET /queue", detail: "status \(response.status) or not JSON"))
        }
        return Set((queue.queue_running ?? []).compactMap(\.id) + (queue.queue_pending ?? []).compactMap(\.id))
    }

    /// `{"queue_running": [item], "queue_pending": [item]}`, item = `[number, prompt_id, graph, extra, outputs]`.
    struct QueueState: Decodable {
        struct Item: Decodable {
            var id: String?
            init(from decoder: any Decoder) throws {
                var fields = try decoder.unkeyedContainer()
                _ = try? fields.decode(Double.self)
                id = try? fields.decode(String.self)
            }
        }
        var queue_running: [Item]?
        var queue_pending: [Item]?
    }

    /// `POST /queue` deleting a prompt that is still pending there (a running one needs `interrupt`).
    public func deleteQueued(promptID: String) async throws(ComfyUIError) {
        let response = try await send("POST", "/queue", body: ["delete": [.string(promptID)]])
        guard response.status == 200 else {
            throw .unavailable(ComfyUIFailure(.badAnswer, request: "POST /queue", detail: "status \(response.status)"))
        }
    }

    private func send(_ method: String, _ path: String, body: JSONValue? = nil) async throws(ComfyUIError)
        -> CurlTransport.Response
    {
        do {
            let bytes = try body.map { Array(try JSONEncoder().encode($0)) }
            let response = try await transport.send(method, path, body: bytes, timeout: requestTimeout)
            if response.status >= 500 {
                throw ComfyUIError.unavailable(
                    ComfyUIFailure(.serverError, request: "\(method) \(path)", detail: "status \(response.status)"))
            }
            return response
        } catch let error as ComfyUIError {
            throw error
        } catch let failure as CurlTransport.Failure {
            throw .unavailable(ComfyUIFailure(curl: failure, request: "\(method) \(path)"))
        } catch {
            throw .unavailable(ComfyUIFailure(.badAnswer, request: "\(method) \(path)", detail: "\(error)"))
        }
    }

    static func object(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            return nil
        }
        return object
    }
}

extension ComfyUIHistory {
    /// A `/history` entry: the outcome from the last status message that says, the files node by node in id order.
    init(_ entry: ComfyUIClient.HistoryEntry) {
        var outcome = Outcome.error
        var failure: JSONValue? = nil
        for message in entry.status?.messages ?? [] {
            guard let event = message.event else { continue }
            if let ended = Outcome(rawValue: event) { outcome = ended }
            if event == "execution_error" { failure = message.data }
        }
        self.init(outcome: outcome, outputs: Self.outputs(entry.outputs ?? [:]), error: failure)
    }

    /// Every file of the node outputs, nodes in id order (as `/history` lists them; the order names the images).
    static func outputs(_ nodes: [String: ComfyUIClient.HistoryEntry.Kinds]) -> [ComfyUIOutput] {
        nodes.sorted(by: { Workflow.idOrder($0.key, $1.key) }).flatMap { node, kinds in kinds.outputs(of: node) }
    }
}
