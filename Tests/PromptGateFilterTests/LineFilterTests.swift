import Foundation
import PromptGateCore
@testable import PromptGateFilter
import PromptGateTestSupport
import Testing

@Suite("Line filter internals")
struct LineFilterTests {
    let runner = LineFilterRunner(pipelines: .policy(TestSupport.pipeline))

    /// Every kind of record reads back as the same JSON as Foundation's encoder writes.
    @Test(arguments: ["a red fox", "blood everywhere", "k i l l them all", "色 情 图片"])
    func recordsAreWhatFoundationWrites(prompt: String) throws {
        let request = PromptRequest(
            id: .string("p-1"), prompt: prompt, params: ["tags": ["a", 2], "meta": ["k": nil]])
        let context = PromptContext(request: request)
        context.recordsNotes = true
        try TestSupport.pipeline.run(context)
        for includeTrace in [false, true] {
            let record = VerdictRecord(line: 7, context: context, includeTrace: includeTrace)
            let written = runner.encode(record)
            #expect(written.last == UInt8(ascii: "\n"))
            let ours = try JSONReader.parse(written.dropLast())
            let foundation = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(record))
            #expect(ours == foundation)
        }
        let error = VerdictRecord(error: InputLineError(line: 3, code: "input.malformed_json", detail: "bad"))
        #expect(
            String(decoding: runner.encode(error), as: UTF8.self)
                == #"{"line":3,"decision":"error","error":{"code":"input.malformed_json","message":"line 3: bad"}}"#
                + "\n")
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
