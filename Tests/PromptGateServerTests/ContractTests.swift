import Foundation
import PromptGateCore
import PromptGateTestSupport
import Testing

@testable import PromptGateServer

/// What a client generated from the OpenAPI document, or written by hand, can rely on: published limits,
/// strict flags, one meaning per body, HEAD on GET routes.
@Suite("HTTP contract")
struct ContractTests {
    @Test func theOpenAPISchemaPublishesTheDefaultPresetsLimits() async throws {
        try await withServer { _, base in
            let document = try await send(base, "GET", "/openapi.json").json
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let request = try #require(schemas["GenerationRequest"] as? [String: Any])
            let properties = try #require(request["properties"] as? [String: [String: Any]])
            let limits = try #require(TestSupport.presets["default"]).limits
            let width = try #require(properties["width"])
            #expect(width["minimum"] as? Double == Double(limits.width.lowerBound))
            #expect(width["maximum"] as? Double == Double(limits.width.upperBound))
            #expect(width["multipleOf"] as? Double == Double(limits.multipleOf))
            #expect((width["description"] as? String)?.contains("other presets may narrow") == true)
            #expect(properties["steps"]?["maximum"] as? Double == Double(limits.steps.upperBound))
            #expect(properties["cfg_scale"]?["maximum"] as? Double == limits.cfgScale.upperBound)
            if !limits.samplers.isEmpty { #expect(properties["sampler"]?["enum"] as? [String] == limits.samplers) }
            #expect(properties["priority"]?["enum"] as? [String] == ["high", "normal", "low"])
            #expect(properties["prompt"]?["maxLength"] as? Double == Double(LengthLimit.defaultPrompt.maxScalars!))
            #expect(properties["prompt"]?["minLength"] as? Double == 1)
            // What the schema allows at its edges is accepted.
            let edge =
                #"{"prompt": "a fox", "width": \#(limits.width.upperBound), "height": \#(limits.height.lowerBound)}"#
            #expect(try await send(base, "POST", "/api/v1/moderate", body: edge).status == 200)
        }
    }

    @Test(arguments: [("1", true), ("true", true), ("0", false), ("false", false)])
    func traceIsABoolean(value: String, traced: Bool) async throws {
        try await withServer { _, base in
            let answer = try await send(base, "POST", "/api/v1/moderate?trace=\(value)", body: #"{"prompt": "x"}"#)
            #expect(answer.status == 200)
            #expect((answer.json["trace"] != nil) == traced)
        }
    }

    @Test func aNonBooleanTraceIsRefused() async throws {
        try await withServer { _, base in
            let answer = try await send(base, "POST", "/api/v1/moderate?trace=yes-please", body: #"{"prompt": "x"}"#)
            #expect(answer.status == 422 && answer.errorCode == "request.invalid_value")
            #expect(
                (answer.json["error"] as? [String: Any]).flatMap { $0["details"] as? [String: Any] }?["field"]
                    as? String == "trace")
        }
    }

    @Test(arguments: [
        (#"{"prompt": "a cat", "prompt": "blood everywhere"}"#, "prompt"),
        (#"{"prompt": "a cat", "pr\u006fmpt": "x"}"#, "prompt"),
        (#"{"prompt": "a cat", "loras": [{"name": "a", "name": "b"}]}"#, "loras[0].name"),
    ])
    func duplicateKeysAreRefused(body: String, field: String) async throws {
        try await withServer { _, base in
            let answer = try await send(base, "POST", "/api/v1/moderate", body: body)
            #expect(answer.status == 422 && answer.errorCode == "request.duplicate_key")
            let details = (answer.json["error"] as? [String: Any])?["details"] as? [String: Any]
            #expect(details?["field"] as? String == field)
        }
    }

    @Test func aByteOrderMarkIsRefused() async throws {
        try await withServer { _, base in
            let answer = try await send(base, "POST", "/api/v1/moderate", body: "\u{FEFF}{\"prompt\": \"x\"}")
            #expect(answer.status == 400 && answer.errorCode == "request.malformed_json")
            #expect(
                (answer.json["error"] as? [String: Any])?["message"] as? String
                    == "the request body starts with a UTF-8 byte order mark; send the JSON without it")
        }
    }

    @Test func headIsServedOnGetRoutes() async throws {
        try await withServer { _, base in
            let connection = try RawConnection(port: base.port!)
            connection.send("HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (text, _) = await connection.readUntilClosed()
            let head = try #require(RawResponse(text))
            let get = try await send(base, "GET", "/health")
            #expect(head.status == 200 && head.body.isEmpty, "\(text)")
            #expect(head.headers["content-length"] == String(get.body.count))
            // HEAD is listed where GET is, and not allowed elsewhere.
            let post = try await send(base, "HEAD", "/api/v1/moderate")
            #expect(post.status == 405 && post.header("Allow") == "POST")
            let bad = try await send(base, "DELETE", "/health")
            #expect(bad.header("Allow") == "GET, HEAD")
        }
    }
}
