import Foundation
import PromptGateCore
import Testing

/// The request schema is declared once; these check that decoding, encoding and the JSON Schema all follow it.
@Suite("Request schema")
struct RequestSchemaTests {
    static let integerFields = PromptRequest.Field.allCases.compactMap {
        field -> (PromptRequest.Field, ClosedRange<Int>)? in
        if case .integer(let range) = field.kind { return (field, range) }
        return nil
    }

    @Test(arguments: integerFields.map(\.0))
    func schemaBoundsAreTheDecodingBounds(field: PromptRequest.Field) throws {
        let range = try #require(Self.integerFields.first { $0.0 == field }?.1)
        let schema = PromptRequest.jsonSchema(loraReference: "#/x")
        guard case .object(let root) = schema, case .object(let properties)? = root["properties"],
            case .object(let property)? = properties[field.rawValue]
        else { throw SchemaMismatch(field: field.rawValue) }
        #expect(property["minimum"] == .number(Double(range.lowerBound)))
        #expect(property["maximum"] == .number(Double(range.upperBound)))
        _ = try PromptRequest(json: ["prompt": "x", field.rawValue: .number(Double(range.upperBound))])
        _ = try PromptRequest(json: ["prompt": "x", field.rawValue: .number(Double(range.lowerBound))])
        for outside in [range.lowerBound - 1, range.upperBound + 1] {
            #expect(throws: RequestError.self) {
                try PromptRequest(json: ["prompt": "x", field.rawValue: .number(Double(outside))])
            }
        }
    }

    @Test func everyFieldIsInTheSchemaAndRoundTrips() throws {
        let schema = PromptRequest.jsonSchema(loraReference: "#/x")
        guard case .object(let root) = schema, case .object(let properties)? = root["properties"] else {
            throw SchemaMismatch(field: "properties")
        }
        #expect(Set(properties.keys) == Set(PromptRequest.Field.allCases.map(\.rawValue)))
        #expect(root["required"] == ["prompt"])
        let json: [String: JSONValue] = [
            "prompt": "a fox", "negative_prompt": "blur", "width": 512, "height": 768, "steps": 12, "cfg_scale": 3.5,
            "seed": 7, "sampler": "euler", "scheduler": "normal", "style": "anime", "template": "food",
            "preset": "default",
            "priority": "high", "loras": [["name": "a", "weight": 0.5]], "extra": "kept",
        ]
        let request = try PromptRequest(json: json)
        #expect(request.params == ["extra": "kept"])
        var expected = json
        expected["extra"] = nil
        #expect(request.jsonObject == expected)
        #expect(try PromptRequest(json: request.jsonObject).jsonObject == expected)
    }

    @Test(arguments: [
        ("[1]", "request.wrong_type", ""), (#"{"prompt": 3}"#, "request.wrong_type", "prompt"),
        (#"{"negative_prompt": "x"}"#, "request.missing_field", "prompt"),
        (#"{"prompt": "x", "loras": [{"name": "a", "strength": 1}]}"#, "request.unknown_field", "loras[0].strength"),
        (#"{"prompt": "x", "loras": [7]}"#, "request.wrong_type", "loras[0]"),
        (#"{"prompt": "x", "priority": "urgent"}"#, "request.invalid_value", "priority"),
        (#"{"prompt": "x", "steps": 2.5}"#, "request.wrong_type", "steps"),
        (#"{"prompt": "x", "id": [1]}"#, "request.wrong_type", "id"),
        (#"{"prompt": "x", "loras": [{"name": ""}]}"#, "request.invalid_value", "loras[0].name"),
    ])
    func decodingNamesTheField(body: String, code: String, field: String) throws {
        do {
            _ = try JSONDecoder().decode(PromptRequest.self, from: Data(body.utf8))
            Issue.record("accepted \(body)")
        } catch let error as RequestError {
            #expect(error.code == code)
            #expect(error.field == field)
        }
    }

    /// Messages say what was wrong in plain words, not the decoder's internals.
    @Test(arguments: [
        (#"{"prompt": "x", "loras": [{"name": ""}]}"#, "field 'loras[0].name' must not be empty"),
        (#"{"prompt": "x", "loras": [{"name": 3}]}"#, "field 'loras[0].name' must be a string, found number"),
        (#"{"prompt": "x", "seed": 1.5}"#, "field 'seed' must be an integer, found number"),
        (#"{"prompt": null}"#, "field 'prompt' must be a string, found null"),
        (#"[1]"#, "the request must be a JSON object, found array"),
    ])
    func messagesArePlain(body: String, message: String) throws {
        #expect(throws: RequestError.self) { try PromptRequest.decode(json: Array(body.utf8)) }
        do {
            _ = try PromptRequest.decode(json: Array(body.utf8))
        } catch let error as RequestError {
            #expect(error.message == message)
        }
        // Any other decoder (task metadata, tests) applies the same checks.
        #expect(throws: RequestError.self) { try JSONDecoder().decode(PromptRequest.self, from: Data(body.utf8)) }
    }

    /// RFC 8259 lets a parser limit numbers to a double's range; one beyond it is refused as malformed JSON,
    /// never read as infinity.
    @Test func numbersBeyondADoubleAreMalformed() {
        #expect(throws: JSONReader.Failure.syntax(offset: 25, message: "number 1e400 is beyond the range of a double"))
        {
            try PromptRequest.decode(json: Array(#"{"prompt": "x", "width": 1e400}"#.utf8))
        }
    }

    struct SchemaMismatch: Error { var field: String }
}

/// Duplicate keys are found wherever they are, after unescaping, and only within one object.
@Suite("Duplicate keys")
struct DuplicateKeyTests {
    @Test(arguments: [
        (#"{"prompt": "a", "prompt": "b"}"#, "prompt"),
        (#"{"prompt": "a", "\u0070rompt": "b"}"#, "prompt"),
        (#"{"a": {"b": 1, "b": 2}, "prompt": "x"}"#, "a.b"),
        (#"{"prompt": "x", "loras": [{"name": "a"}, {"name": "b", "weight": 1, "weight": 2}]}"#, "loras[1].weight"),
        (#"{"k\"ey": 1, "k\"ey": 2, "prompt": "x"}"#, #"k"ey"#),
    ])
    func duplicatesAreFound(json: String, path: String) throws {
        #expect {
            try PromptRequest.decode(json: Array(json.utf8))
        } throws: { error in
            (error as? RequestError)?.code == "request.duplicate_key" && (error as? RequestError)?.field == path
        }
    }

    @Test(arguments: [
        #"{"prompt": "x", "loras": [{"name": "a"}, {"name": "b"}]}"#,
        #"{"prompt": "x", "a": {"prompt": 1}, "b": ["prompt", "prompt"]}"#,
        #"{"prompt": "the key \"prompt\": twice in a value"}"#,
    ])
    func sameNamesInDifferentObjectsAreFine(json: String) throws {
        _ = try PromptRequest.decode(json: Array(json.utf8))
    }
}
