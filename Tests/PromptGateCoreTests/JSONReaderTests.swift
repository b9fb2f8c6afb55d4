import Foundation
import PromptGateCore
import Testing

/// The JSON reader both front ends use: RFC 8259 exactly, values as Foundation reads them, clear refusals.
@Suite("JSON reader")
struct JSONReaderTests {
    @Test(
        arguments: [
            (
                #"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#,
                ["a": 1, "b": [true, false, nil], "c": ["d": "e"]]
            ),
            (#" [] "#, []),
            (#"{}"#, [:]),
            (#""caf\u00e9 \ud83d\ude00 \n\t\"\\\/""#, "café 😀 \n\t\"\\/"),
            (#"-0.5e2"#, -50.0),
            (#"12345678901234567"#, 12_345_678_901_234_567.0),
            (#"0"#, 0),
            (#"-7"#, -7),
            (#"1E+2"#, 100),
            (#""提示词 ｐｏｒｎ""#, "提示词 ｐｏｒｎ"),
        ] as [(String, JSONValue)])
    func readsWhatFoundationReads(text: String, expected: JSONValue) throws {
        let value = try JSONReader.parse(Array(text.utf8))
        #expect(value == expected)
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value == foundation)
    }

    @Test(arguments: [
        (#"{"prompt": "a""#, "unexpected end of input in an object"),
        (#"{"prompt": "a"} trailing"#, "unexpected text after the JSON value"),
        (#"{prompt: 1}"#, "expected a key in quotes"),
        (#"{"a" 1}"#, "expected ':' after the key"),
        (#"{"a": 1,}"#, "expected a key in quotes"),
        (#"[1, 2,]"#, "unexpected character ']', expected a value"),
        (#"[1 2]"#, "expected ',' or ']' in an array"),
        ("\"tab\there\"", "control character 0x9 in a string must be escaped"),
        (#""\x""#, "invalid escape \\'x'"),
        (#""\ud800""#, "\\u escape is a lone high surrogate"),
        (#""\udc00""#, "\\u escape is a lone low surrogate"),
        (#""\u12""#, "\\u escape needs four hex digits"),
        (#"012"#, "a number cannot start with 0"),
        (#"1."#, "expected a digit after '.'"),
        (#"1e"#, "expected a digit in the exponent"),
        (#"+1"#, "unexpected character '+', expected a value"),
        (#"1e400"#, "number 1e400 is beyond the range of a double"),
        (#"tru"#, "unexpected character 't', expected a value"),
        ("", "unexpected end of input, expected a value"),
    ])
    func refusesWhatIsNotJSON(text: String, message: String) {
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(Array(text.utf8)) }
        do {
            _ = try JSONReader.parse(Array(text.utf8))
        } catch {
            guard case .syntax(_, let found) = error else {
                Issue.record("expected a syntax error, got \(error)")
                return
            }
            #expect(found == message)
        }
    }

    @Test func refusesInvalidUTF8InStrings() {
        let bytes: [UInt8] = Array(#"{"prompt": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: JSONReader.Failure.syntax(offset: 12, message: "string is not valid UTF-8")) {
            try JSONReader.parse(bytes)
        }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: JSONReader.maximumDepth + 1)
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(throws: Never.self) { try JSONReader.parse(Array(fine.utf8)) }
    }

    @Test(arguments: [
        (#"{"prompt": "a", "prompt": "b"}"#, "prompt"),
        (#"{"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}]}"#, "a[1].c.d"),
    ])
    func namesTheRepeatedKey(text: String, path: String) {
        #expect(throws: JSONReader.Failure.duplicateKey(path: path)) { try JSONReader.parse(Array(text.utf8)) }
    }
}
