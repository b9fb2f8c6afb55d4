import Foundation
import PromptGateCore
import Testing

/// The streaming writer says what Foundation's encoder says, and falls back to it where it cannot stream.
@Suite("JSON writer")
struct JSONWriterTests {
    struct Sample: Encodable {
        var text = "quote \" backslash \\ newline \n tab \t bell \u{7} slash / 中文 😀"
        var integer = -42
        var unsigned: UInt64 = 18_446_744_073_709_551_615
        var fraction = 0.1
        var large = 1.5e300
        var flag = true
        var missing: String? = nil
        var present: Int? = 3
        var list = [[1, 2], [], [3]]
        var nested = ["only": ["deep": [true, false]]]
        var value: JSONValue = ["b": 1, "a": [nil, "x", 2.5]]
        var severity = Severity.high
    }

    /// Writes a sibling's member after starting another: legal `Codable`, impossible to stream.
    struct OutOfOrder: Encodable {
        enum Keys: String, CodingKey { case first, second, inner }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var first = container.nestedContainer(keyedBy: Keys.self, forKey: .first)
            var second = container.nestedContainer(keyedBy: Keys.self, forKey: .second)
            try second.encode(2, forKey: .inner)
            try first.encode(1, forKey: .inner)
        }
    }

    struct Empty: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    func foundation(_ value: some Encodable) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }

    @Test func writesWhatFoundationWrites() throws {
        let bytes = try JSONWriter.encode(Sample())
        #expect(try JSONReader.parse(bytes) == (try foundation(Sample())))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(
            text.hasPrefix(#"{"text":"quote \" backslash \\ newline \n tab \t bell \u0007 slash / 中文 😀","integer":-42"#)
        )
        #expect(text.contains(#""value":{"a":[null,"x",2.5],"b":1}"#))
    }

    @Test func fallsBackWhereItCannotStream() throws {
        let bytes = try JSONWriter.encode(OutOfOrder())
        #expect(try JSONReader.parse(bytes) == ["first": ["inner": 1], "second": ["inner": 2]])
        #expect(throws: (any Error).self) { try JSONWriter.encode(Empty()) }
    }

    @Test(arguments: [Double.infinity, -Double.infinity, Double.nan])
    func refusesNumbersJSONCannotHold(number: Double) {
        #expect(throws: EncodingError.self) { try JSONWriter.encode(["x": number]) }
    }
}
