import ComfySim
import Foundation
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `batch_size` (several images from one run) and `response_format: base64` (images inline in the task body).
@Suite("Output choices: batches and base64", .serialized)
struct OutputChoicesTests {
    @Test(arguments: [1, 4, 8])
    func aBatchReturnsEveryImageWithItsIndexAndSeed(_ size: Int) async throws {
        try await withGateway { _, base, sims in
            let body = #"{"prompt": "a red fox in the snow", "seed": 77, "batch_size": \#(size)}"#
            let accepted = try await send(base, "POST", "/api/v1/generate", body: body)
            #expect(accepted.status == 202, "\(accepted.text)")
            let id = try #require(accepted.json["task_id"] as? String)
            let done = try await awaitTask(base, id)
            #expect(done.json["status"] as? String == "completed", "\(done.text)")
            let result = try #require(done.json["result"] as? [String: Any])
            let images = try #require(result["images"] as? [[String: Any]])
            #expect(images.map { $0["index"] as? Int } == (0..<size).map { $0 })
            #expect(images.allSatisfy { $0["seed"] as? Int == 77 })
            #expect(Set(images.compactMap { $0["filename"] as? String }).count == size)
            #expect((result["metadata"] as? [String: Any])?["batch_size"] as? Int == size)
            // The latent's batch input carried it to ComfyUI.
            let graph = try #require(sims.sims[0].receivedGraph(promptID: id))
            let latents = graph.values.filter { node in
                if case .object(let fields) = node, case .object(let inputs)? = fields["inputs"] {
                    return inputs["batch_size"] != nil
                }
                return false
            }
            #expect(!latents.isEmpty)
            for latent in latents {
                guard case .object(let fields) = latent, case .object(let inputs)? = fields["inputs"] else { continue }
                #expect(inputs["batch_size"] == .number(Double(size)))
            }
            for image in images {
                let file = try await send(base, "GET", "/output/\(image["filename"] as? String ?? "")")
                #expect(file.status == 200 && !file.body.isEmpty)
            }
        }
    }

    @Test(arguments: [
        (#""batch_size": 0"#, "request.out_of_range"), (#""batch_size": 9"#, "request.out_of_range"),
        (#""batch_size": 2.5"#, "request.wrong_type"), (#""response_format": "jpeg""#, "request.invalid_value"),
        (#""response_format": 1"#, "request.wrong_type"),
    ])
    func badOutputChoicesAreRefused(_ field: String, _ code: String) async throws {
        try await withGateway { _, base, _ in
            let answer = try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox", \#(field)}"#)
            #expect(answer.status == 422, "\(answer.text)")
            #expect(answer.errorCode == code)
        }
    }

    @Test func aBatchNeedsABatchInput() async throws {
        try await withGateway(configure: { $0.dispatch.bindings[.batchSize] = [] }) { _, base, _ in
            let answer = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox", "batch_size": 2}"#)
            #expect(answer.status == 422)
            #expect(
                (answer.json["error"] as? [String: Any])?["details"] as? [String: String] == ["field": "batch_size"])
            let single = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox", "batch_size": 1}"#)
            #expect(single.status == 202)
        }
    }

    @Test func base64ImagesAreTheFilesBytes() async throws {
        try await withGateway { _, base, _ in
            let body = #"{"prompt": "a red fox", "batch_size": 2, "response_format": "base64"}"#
            // The one-call form: the waited answer carries the bytes.
            let waited = try await send(base, "POST", "/api/v1/generate", body: body, headers: ["Prefer": "wait=20"])
            #expect(waited.status == 200, "\(waited.text)")
            let id = try #require(waited.json["task_id"] as? String)
            let images = try #require((waited.json["result"] as? [String: Any])?["images"] as? [[String: Any]])
            #expect(images.count == 2)
            for image in images {
                let inline = try #require(Data(base64Encoded: image["b64"] as? String ?? ""))
                let served = try await send(base, "GET", "/output/\(image["filename"] as? String ?? "")")
                #expect(inline == served.body && !inline.isEmpty)
                #expect(image["url"] != nil)
            }
            // GET /task carries them too; the task list does not (pages would be huge).
            let shown = try await send(base, "GET", "/api/v1/task/\(id)")
            let again = (shown.json["result"] as? [String: Any])?["images"] as? [[String: Any]]
            #expect(again?.allSatisfy { $0["b64"] is String } == true)
            let listed = try await send(base, "GET", "/api/v1/tasks")
            let first = (listed.json["tasks"] as? [[String: Any]])?.first { $0["task_id"] as? String == id }
            let listedImages = (first?["result"] as? [String: Any])?["images"] as? [[String: Any]]
            #expect(listedImages?.count == 2 && listedImages?.allSatisfy { $0["b64"] == nil } == true)
            // A url request has no b64.
            let plain = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox"}"#, headers: ["Prefer": "wait=20"])
            let plainImages = (plain.json["result"] as? [String: Any])?["images"] as? [[String: Any]]
            #expect(plainImages?.first?["b64"] == nil && plainImages?.first?["url"] != nil)
        }
    }

    @Test func imagesOverTheInlineCapSayWhyAndKeepTheirURLs() async throws {
        try await withGateway(configure: { $0.server.maxInlineBytes = 10 }) { _, base, _ in
            let body = #"{"prompt": "a red fox", "response_format": "base64"}"#
            let waited = try await send(base, "POST", "/api/v1/generate", body: body, headers: ["Prefer": "wait=20"])
            let result = try #require(waited.json["result"] as? [String: Any], "\(waited.text)")
            #expect((result["inline_error"] as? [String: Any])?["code"] as? String == "response.inline_too_large")
            let images = result["images"] as? [[String: Any]] ?? []
            #expect(images.count == 1 && images[0]["b64"] == nil && images[0]["url"] is String)
        }
    }

    @Test func maxInlineBytesIsConfigurable() throws {
        let config = try ServiceConfig.parse("server: {max_inline_bytes: 1048576}", file: "c.yaml")
        #expect(config.server.maxInlineBytes == 1_048_576)
        #expect(throws: (any Error).self) { try ServiceConfig.parse("server: {max_inline_bytes: -1}", file: "c.yaml") }
    }
}

/// An image gone from the output folder (deleted, or a gateway that does not share the folder) is fetched again
/// from the backend that made it.
@Suite("Images fetched again from their backend", .serialized)
struct ImageRefetchTests {
    @Test func aMissingImageComesBackFromItsBackend() async throws {
        try await withGateway { server, base, _ in
            let done = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox", "batch_size": 2}"#,
                headers: ["Prefer": "wait=20"])
            let images = try #require((done.json["result"] as? [String: Any])?["images"] as? [[String: Any]])
            let name = try #require(images.last?["filename"] as? String)
            let before = try await send(base, "GET", "/output/\(name)")
            #expect(before.status == 200)
            let path = try #require(server.dispatch.dispatcher.output.file(named: name))
            try FileManager.default.removeItem(atPath: path)
            let after = try await send(base, "GET", "/output/\(name)")
            #expect(after.status == 200 && after.body == before.body)
            #expect(FileManager.default.fileExists(atPath: path))
            // A name no task uses stays a 404.
            #expect(try await send(base, "GET", "/output/nobody_0.png").status == 404)
        }
    }
}
