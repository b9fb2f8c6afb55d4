import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import PromptGateCore
@testable import PromptGateDispatch
import Synchronization
import Testing

/// A few ComfyUI routes with canned answers, on 127.0.0.1 and an ephemeral port.
/// Request bodies the fake received.
final class Received: Sendable {
    private let bodies = Mutex<[String]>([])
    func append(_ body: String) { bodies.withLock { $0.append(body) } }
    var first: String? { bodies.withLock { $0.first } }
}

func withFakeComfyUI(_ body: (CurlTransport, Received) async throws -> Void) async throws {
    let received = Received()
    let router = Router()
    router.post("/prompt") { request, _ -> Response in
        let data = try await request.body.collect(upTo: 1 << 20)
        let text = String(buffer: data)
        received.append(text)
        if text.contains("\"refuse-me\"") {
            let refusal =
                #"{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": ""}, "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "ckpt_name: 'x' not in []"}], "class_type": "CheckpointLoaderSimple"}}}"#
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: refusal)))
        }
        if text.contains("\"crash-me\"") { return Response(status: .internalServerError) }
        return Response(
            status: .ok,
            body: .init(byteBuffer: ByteBuffer(string: #"{"prompt_id": "x", "number": 0, "node_errors": {}}"#)))
    }
    router.get("/history/{id}") { _, context -> Response in
        let id = context.parameters.get("id") ?? ""
        let json: String
        switch id {
        case "done":
            json =
                #"{"done": {"outputs": {"9": {"images": [{"filename": "a_00001_.png", "subfolder": "promptgate", "type": "output"}, {"filename": "a_00002_.png", "subfolder": "promptgate", "type": "output"}]}}, "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {}], ["execution_success", {}]]}}}"#
        case "broken":
            json =
                #"{"broken": {"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [["execution_start", {}], ["execution_error", {"node_id": "8", "exception_message": "boom"}]]}}}"#
        case "mixed":
            json =
                #"{"mixed": {"prompt": [1, "mixed", {"3": {"class_type": "KSampler", "inputs": {}}}, {}, ["9"]], "outputs": {"12": {"text": ["a caption"], "gifs": [{"filename": "b_00001_.webp", "subfolder": "", "type": "output", "format": "image/webp"}]}, "13": "odd", "9": {"images": [{"filename": "a_00001_.png", "subfolder": "x", "type": "temp"}], "animated": [false]}}, "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": "mixed"}], ["execution_success", {"prompt_id": "mixed"}]]}, "meta": {}}}"#
        case "garbage":
            json = "<html>"
        default:
            json = "{}"
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
    router.get("/view") { request, _ -> Response in
        let name = request.uri.queryParameters["filename"].map(String.init) ?? ""
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "PNG:\(name)")))
    }
    router.post("/interrupt") { _, _ in Response(status: .ok) }
    try await withLoopbackComfyUI(router) { _, transport in try await body(transport, received) }
}

@Suite("ComfyUI client over libcurl", .serialized)
struct ComfyUIClientTests {
    /// The ComfyUIError a call throws, or nil.
    static func failure(_ call: () async throws -> Void) async -> ComfyUIError? {
        do {
            try await call()
            return nil
        } catch {
            return error as? ComfyUIError
        }
    }

    let workflow = try! Workflow(
        json: Data(#"{"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}}"#.utf8))

    @Test func queueSendsOurIDsAndMapsRefusals() async throws {
        try await withFakeComfyUI { transport, received in
            let client = ComfyUIClient(transport: transport, clientID: "promptgate-test")
            try await client.queue(workflow, promptID: "0b6c3c1e-0000-4000-8000-000000000001")
            let body = try #require(received.first)
            #expect(body.contains(#""prompt_id":"0b6c3c1e-0000-4000-8000-000000000001""#))
            #expect(body.contains(#""client_id":"promptgate-test""#))
            #expect(body.contains(#""class_type":"SaveImage""#))
            let refusal = await Self.failure { try await client.queue(workflow, promptID: "refuse-me") }
            guard case .rejected(let type, let message, let nodeErrors)? = refusal else {
                Issue.record("\(String(describing: refusal))"); return
            }
            #expect(type == "prompt_outputs_failed_validation")
            #expect(message == "Prompt outputs failed validation")
            guard case .object(let nodes)? = nodeErrors else { Issue.record("no node errors"); return }
            #expect(nodes["4"] != nil)
            guard
                case .unavailable(let failure)? = await Self.failure({
                    try await client.queue(workflow, promptID: "crash-me")
                }), failure.code == "comfyui.server_error"
            else {
                Issue.record("a 500 must be retryable")
                return
            }
        }
    }

    @Test func historyOutputsAndFailures() async throws {
        try await withFakeComfyUI { transport, _ in
            let client = ComfyUIClient(transport: transport, clientID: "c")
            #expect(try await client.history(promptID: "pending") == nil)
            let done = try #require(try await client.history(promptID: "done"))
            #expect(done.outcome == .success)
            // every output, not only the first
            #expect(done.outputs.map(\.filename) == ["a_00001_.png", "a_00002_.png"])
            #expect(try await client.view(done.outputs[1]) == Array("PNG:a_00002_.png".utf8))
            let broken = try #require(try await client.history(promptID: "broken"))
            #expect(broken.outcome == .error)
            guard case .object(let failure)? = broken.error else { Issue.record("no error data"); return }
            #expect(failure["exception_message"] == "boom")
            guard
                case .unavailable(let failure)? = await Self.failure({
                    _ = try await client.history(promptID: "garbage")
                }),
                failure.code == "comfyui.bad_answer"
            else {
                Issue.record("garbage must be retryable")
                return
            }
            // Other output kinds and shapes (text, gifs, a node value that is not an object) are read or skipped.
            let mixed = try #require(try await client.history(promptID: "mixed"))
            #expect(mixed.outcome == .success)
            #expect(mixed.outputs.map(\.filename) == ["a_00001_.png", "b_00001_.webp"])
            #expect(mixed.outputs.map(\.type) == ["temp", "output"] && mixed.outputs.map(\.node) == ["9", "12"])
            try await client.interrupt(promptID: "done")
        }
    }

    @Test func connectionRefusedIsRetryable() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // Bind and close a socket to get a port nothing listens on.
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
            host: "127.0.0.1", port: 0
        ).get()
        let port = channel.localAddress?.port ?? 1
        try await channel.close()
        let client = ComfyUIClient(
            transport: CurlTransport(baseURL: "http://127.0.0.1:\(port)", threadPool: pool), clientID: "c")
        let failure = await Self.failure { _ = try await client.systemStats() }
        if case .unavailable(let failure)? = failure {
            // A plain sentence with a stable code; the call and libcurl's words are details.
            #expect(failure.code == "comfyui.unreachable" && failure.request == "GET /system_stats")
            #expect(failure.description.hasPrefix("the backend could not be reached ("))
            #expect(!"\(ComfyUIError.unavailable(failure))".contains("unavailable("))
        } else {
            Issue.record("expected a retryable failure, got \(String(describing: failure))")
        }
        try await pool.shutdownGracefully()
    }
}
