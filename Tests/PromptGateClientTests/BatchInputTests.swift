import Foundation
import PromptGateClient
import PromptGateCore
import Testing

@Suite("Batch input (JSONL and product CSV)")
struct BatchInputTests {
    func rows(_ text: String, _ format: BatchInput.Format, template: String? = nil) throws -> [BatchRow] {
        try BatchInput.rows(Data(text.utf8), format: format, template: template)
    }

    @Test func jsonlRowsKeepTheirRequestAndAreNamedByIdOrLine() throws {
        let rows = try rows(
            """
            {"id": "sku-1", "prompt": "a red shoe", "seed": 7}

            {"prompt": "a blue hat", "batch_size": 2}\r
            {"id": 42, "prompt": "a lamp"}
            """, .jsonl)
        #expect(rows.map(\.id) == ["sku-1", "line-3", "42"])
        #expect(rows.map(\.origin) == ["line 1", "line 3", "line 4"])
        #expect(rows[0].request["seed"] == .number(7) && rows[1].request["batch_size"] == .number(2))
        #expect(rows[1].request["id"] == .string("line-3"))
    }

    @Test(arguments: [
        (#"{"prompt": "ok"}"# + "\nnot json", "line 2: is not a JSON object"),
        (#"[1, 2]"#, "line 1: is not a JSON object"),
        (#"{"prompt": ""}"#, "line 1: field 'prompt' is missing or not a non-empty string"),
        (#"{"negative_prompt": "x"}"#, "line 1: field 'prompt' is missing or not a non-empty string"),
        (#"{"prompt": "a", "id": 1.5}"#, "line 1: field 'id' must be a non-empty string or an integer"),
        (
            #"{"prompt": "a", "id": "x"}"# + "\n" + #"{"prompt": "b", "id": "x"}"#,
            "line 2: field 'id' row id 'x' was used already (line 1)"
        ),
        ("\n\n", "input: holds no rows"),
    ])
    func badJSONLNamesTheLineAndField(_ text: String, _ message: String) {
        #expect(throws: BatchInputError.self) { try rows(text, .jsonl) }
        do {
            _ = try rows(text, .jsonl)
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test func csvProductRowsBecomePromptsFramedByTheirTemplate() throws {
        let rows = try rows(
            """
            id,name,features,color,template,seed,batch_size
            tee-1,cotton t-shirt,"crew neck, short sleeves",red,clothing,7,2
            ,linen shirt,,white,,,
            phone,smartphone,6.1 inch screen,,electronics,,
            """, .csv, template: "clothing")
        #expect(rows.map(\.id) == ["tee-1", "row-3", "phone"])
        #expect(rows[0].request["prompt"] == .string("red cotton t-shirt, crew neck, short sleeves"))
        #expect(rows[0].request["template"] == .string("clothing"))
        #expect(rows[0].request["seed"] == .number(7) && rows[0].request["batch_size"] == .number(2))
        #expect(rows[1].request["prompt"] == .string("white linen shirt"))
        #expect(rows[1].request["template"] == .string("clothing"))  // --template fills an empty cell
        #expect(rows[1].request["seed"] == nil)
        #expect(rows[2].request["prompt"] == .string("smartphone, 6.1 inch screen"))
        #expect(rows[2].request["template"] == .string("electronics"))
    }

    @Test(arguments: [
        ("name,size\nx,3", "row 1: field 'size' is not a column submit knows"),
        ("color,template\nred,food", "row 1: field 'name' the header needs a 'name' column"),
        ("name,color\n,red", "row 2: field 'name' is empty"),
        ("name,seed\nshoe,seven", "row 2: field 'seed' must be a whole number, found 'seven'"),
        ("name,batch_size\nshoe,9", "row 2: field 'batch_size' must be a whole number, found '9'"),
        ("name,color\nshoe,red,extra", "row 2: has 3 fields; the header has 2"),
        ("id,name\na,shoe\na,hat", "row 3: field 'id' row id 'a' was used already (row 2)"),
    ])
    func badCSVNamesTheRowAndColumn(_ text: String, _ message: String) {
        do {
            _ = try rows(text, .csv)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test func idempotencyKeysAreStablePerRowAndNewPerRetry() throws {
        let row = try #require(try rows(#"{"id": "a", "prompt": "a red shoe"}"#, .jsonl).first)
        let again = try #require(try rows(#"{"prompt": "a red shoe", "id": "a"}"#, .jsonl).first)
        #expect(row.idempotencyKey(attempt: 1) == again.idempotencyKey(attempt: 1))  // key order does not matter
        #expect(row.idempotencyKey(attempt: 1) != row.idempotencyKey(attempt: 2))
        let edited = try #require(try rows(#"{"id": "a", "prompt": "a blue shoe"}"#, .jsonl).first)
        #expect(row.idempotencyKey(attempt: 1) != edited.idempotencyKey(attempt: 1))
        #expect(row.idempotencyKey(attempt: 1).count <= 255)
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstField() throws {
        let csv = try rows("\u{FEFF}id,name\nx,shoe\n", .csv)
        #expect(csv.map(\.id) == ["x"] && csv[0].request["prompt"] == .string("shoe"))
        let jsonl = try rows("\u{FEFF}{\"prompt\": \"a fox\"}\n", .jsonl)
        #expect(jsonl.map(\.id) == ["line-1"])
    }

    @Test(arguments: [("sku-1.a_B", "sku-1.a_B"), ("a/b c", "a_b_c"), ("../x", "_.._x"), ("Ünï", "_n_"), ("", "_")])
    func fileNamesAreSafe(_ id: String, _ stem: String) {
        #expect(BatchRow(id: id, request: [:], origin: "").fileStem == stem)
    }
}
