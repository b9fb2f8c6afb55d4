import Foundation
import PromptGateCore

/// What went wrong talking to ComfyUI, split the way the dispatcher acts on it.
public enum ComfyUIError: Error, Sendable, Equatable {
    /// Worth another try, maybe on another backend: connection refused or reset, timeout, 5xx, a body that
    /// is not the JSON expected.
    case retryable(String)
    /// ComfyUI refused the workflow (400): final. `nodeErrors` is its `node_errors` (node → input → message).
    case rejected(type: String, message: String, nodeErrors: JSONValue?)
}

/// One output file of a finished prompt.
public struct ComfyUIOutput: Sendable, Equatable {
    public var node: String
    public var filename: String
    public var subfolder: String
    public var type: String
}

/// A finished prompt as `/history` records it.
public struct ComfyUIHistory: Sendable, Equatable {
    /// `execution_success`, `execution_error` or `execution_interrupted` (from the status messages).
    public var outcome: String
    public var outputs: [ComfyUIOutput]
    /// The `execution_error` data (node, exception message) when it failed.
    public var error: JSONValue?
}

/// The calls the dispatcher makes (recorded from ComfyUI v0.3.64, see docs/comfyui-protocol.md).
public struct ComfyUIClient: Sendable {
    public let transport: CurlTransport
    public let clientID: String
    /// Limit for one call (connect + answer); a hung server becomes a retryable failure after it.
    public let requestTimeout: Duration

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
            guard let object = Self.object(response.body) else { throw .retryable("POST /prompt answered 200 without JSON") }
            if case .object(let nodes)? = object["node_errors"], !nodes.isEmpty {
                throw .rejected(type: "prompt_outputs_failed_validation", message: "some outputs failed validation", nodeErrors: object["node_errors"])
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
            throw .retryable("POST /prompt answered \(response.status)")
        }
    }

    /// `GET /history/{id}`: nil while the prompt is queued or running (ComfyUI answers `{}` then).
    public func history(promptID: String) async throws(ComfyUIError) -> ComfyUIHistory? {
        let response = try await send("GET", "/history/\(promptID)")
        guard response.status == 200, let object = Self.object(response.body) else {
            throw .retryable("GET /history answered \(response.status) or not JSON")
        }
        guard case .object(let entry)? = object[promptID] else { return nil }
        var outcome = "execution_error"
        var failure: JSONValue? = nil
        if case .object(let status)? = entry["status"], case .array(let messages)? = status["messages"] {
            for message in messages {
                guard case .array(let pair) = message, case .string(let event)? = pair.first else { continue }
                if ["execution_success", "execution_error", "execution_interrupted"].contains(event) { outcome = event }
                if event == "execution_error", pair.count > 1 { failure = pair[1] }
            }
        }
        var outputs: [ComfyUIOutput] = []
        if case .object(let nodes)? = entry["outputs"] {
            for (node, value) in nodes.sorted(by: { Workflow.idOrder($0.key, $1.key) }) {
                guard case .object(let kinds) = value else { continue }
                for (_, files) in kinds.sorted(by: { $0.key < $1.key }) {
                    guard case .array(let list) = files else { continue }
                    for file in list {
                        guard case .object(let fields) = file, case .string(let name)? = fields["filename"] else { continue }
                        var subfolder = "", type = "output"
                        if case .string(let s)? = fields["subfolder"] { subfolder = s }
                        if case .string(let t)? = fields["type"] { type = t }
                        outputs.append(ComfyUIOutput(node: node, filename: name, subfolder: subfolder, type: type))
                    }
                }
            }
        }
        return ComfyUIHistory(outcome: outcome, outputs: outputs, error: failure)
    }

    /// `GET /view` for one output file.
    public func view(_ output: ComfyUIOutput) async throws(ComfyUIError) -> [UInt8] {
        let response = try await send("GET", Self.viewPath(output))
        guard response.status == 200 else { throw .retryable("GET /view answered \(response.status)") }
        return response.body
    }

    /// `GET /view` for one output file, handing the bytes to `save` on the transport's thread (a blocking
    /// file write without another thread hop).
    public func view(_ output: ComfyUIOutput, save: @escaping @Sendable ([UInt8]) throws -> Void) async throws(ComfyUIError) {
        do {
            try await transport.send("GET", Self.viewPath(output), timeout: requestTimeout) { response in
                guard response.status == 200 else { throw ComfyUIError.retryable("GET /view answered \(response.status)") }
                try save(response.body)
            }
        } catch let error as ComfyUIError {
            throw error
        } catch {
            throw .retryable("GET /view: \(error)")
        }
    }

    static func viewPath(_ output: ComfyUIOutput) -> String {
        let query = [("filename", output.filename), ("subfolder", output.subfolder), ("type", output.type)]
            .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? "")" }
            .joined(separator: "&")
        return "/view?\(query)"
    }

    /// `GET /object_info`: every node class the server has, with its inputs (for validating workflows).
    public func objectInfo() async throws(ComfyUIError) -> [String: JSONValue] {
        let response = try await send("GET", "/object_info")
        guard response.status == 200, let object = Self.object(response.body) else {
            throw .retryable("GET /object_info answered \(response.status) or not JSON")
        }
        return object
    }

    /// `GET /system_stats` (the health check).
    public func systemStats() async throws(ComfyUIError) -> JSONValue {
        let response = try await send("GET", "/system_stats")
        guard response.status == 200, let object = Self.object(response.body) else {
            throw .retryable("GET /system_stats answered \(response.status) or not JSON")
        }
        return .object(object)
    }

    /// `POST /interrupt` for one prompt (only interrupts it if it is the one running).
    public func interrupt(promptID: String) async throws(ComfyUIError) {
        let response = try await send("POST", "/interrupt", body: ["prompt_id": .string(promptID)])
        guard response.status == 200 else { throw .retryable("POST /interrupt answered \(response.status)") }
    }

    /// `POST /queue` deleting a prompt that is still pending there (a running one needs `interrupt`).
    public func deleteQueued(promptID: String) async throws(ComfyUIError) {
        let response = try await send("POST", "/queue", body: ["delete": [.string(promptID)]])
        guard response.status == 200 else { throw .retryable("POST /queue answered \(response.status)") }
    }

    private func send(_ method: String, _ path: String, body: JSONValue? = nil) async throws(ComfyUIError) -> CurlTransport.Response {
        do {
            let bytes = try body.map { Array(try JSONEncoder().encode($0)) }
            let response = try await transport.send(method, path, body: bytes, timeout: requestTimeout)
            if response.status >= 500 { throw ComfyUIError.retryable("\(method) \(path) answered \(response.status)") }
            return response
        } catch let error as ComfyUIError {
            throw error
        } catch let failure as CurlTransport.Failure {
            throw .retryable("\(method) \(path): \(failure.message)")
        } catch {
            throw .retryable("\(method) \(path): \(error)")
        }
    }

    static func object(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        return object
    }
}
