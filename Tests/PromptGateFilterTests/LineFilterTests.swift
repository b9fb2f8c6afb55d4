import Foundation
import PromptGateCore
@testable import PromptGateFilter
import PromptGateTestSupport
import Testing

@Suite("Line filter internals")
struct LineFilterTests {
    let runner = LineFilterRunner(pipelines: .policy(TestSupport.pipeline))

    func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    @Test(arguments: [1, 42, 1_000_000])
    func plainAllowFastPathMatchesTheEncoder(line: Int) throws {
        let context = TestSupport.judge("a red fox")
        let record = VerdictRecord(line: line, context: context, includeTrace: false)
        let fast = try #require(record.plainAllowBytes)
        var slow = Array(try encoder().encode(record))
        slow.append(UInt8(ascii: "\n"))
        #expect(fast == slow)
    }

    @Test func fastPathOnlyForPlainAllows() {
        #expect(VerdictRecord(line: 1, context: TestSupport.judge("blood"), includeTrace: false).plainAllowBytes == nil)
        #expect(VerdictRecord(line: 1, context: TestSupport.judge("a fox"), includeTrace: true).plainAllowBytes == nil)
        let withID = PromptContext(request: PromptRequest(id: .string("x"), prompt: "a fox"))
        #expect(VerdictRecord(line: 1, context: withID, includeTrace: false).plainAllowBytes == nil)
    }

    @Test func parsesTextAndJSONLines() throws {
        let text = try InputLine.parse(ArraySlice("a fox\r".utf8), line: 1, format: .auto).get()
        #expect(text.prompt == "a fox")
        let json = try InputLine.parse(
            ArraySlice(#"  {"prompt":"x","id":"7","extra":[1]}"#.utf8), line: 2, format: .auto
        ).get()
        #expect(json.prompt == "x")
        #expect(json.id == .string("7"))
        #expect(json.params == ["extra": .array([.number(1)])])
    }

    @Test(arguments: [
        (#"{"prompt": null}"#, "request.wrong_type"), (#"{"prompt": "a", "id": {}}"#, "request.wrong_type"),
        (#"{"prompt": "a""#, "input.malformed_json"), (#""just a string""#, "input.not_an_object"),
        (#"{"prompt": "a"} trailing"#, "input.malformed_json"),
    ])
    func jsonLineErrors(line: String, code: String) {
        guard case .failure(let error) = InputLine.parse(ArraySlice(line.utf8), line: 9, format: .jsonl) else {
            Issue.record("\(line) parsed")
            return
        }
        #expect(error.code == code)
        #expect(error.message.hasPrefix("line 9: "))
    }
}
