import Foundation
import PromptGateTestSupport
import Testing

/// Spawns the built `promptgate` binary, as a user would.
@Suite("promptgate filter (CLI)")
struct FilterCLITests {
    func records(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func jsonlVerdictsInOrderOnManyLines() throws {
        // Enough lines for the parallel path; every 7th is blocked.
        let lines = (0..<3000).map { $0 % 7 == 0 ? "m.u.r.d.e.r scene" : "a quiet lake, take \(String($0, radix: 2))" }
        let result = try TestSupport.run(["filter"], input: lines.joined(separator: "\n") + "\n")
        #expect(result.status == 1)
        let out = try records(result.stdout)
        #expect(out.count == 3000)
        for (index, record) in out.enumerated() {
            #expect(record["line"] as? Int == index + 1)
            #expect(record["decision"] as? String == (index % 7 == 0 ? "block" : "allow"))
        }
        let reason = try #require((out[0]["reasons"] as? [[String: Any]])?.first)
        #expect(reason["rule_id"] as? String == "en-violence-terms")
        #expect(reason["view"] as? String == "joined")
        #expect(reason["matched"] as? String == "m.u.r.d.e.r")
        let span = try #require(reason["span"] as? [String: [String: Int]])
        #expect(span["scalars"] == ["start": 0, "end": 11])
        #expect(span["utf8"] == ["start": 0, "end": 11])
    }

    @Test func allAllowedExitsZero() throws {
        let result = try TestSupport.run(["filter"], input: "a red fox\na blue bird\n")
        #expect(result.status == 0)
        #expect(try records(result.stdout).map { $0["decision"] as? String } == ["allow", "allow"])
    }

    @Test func textOutputKeepsOnlyWhatPasses() throws {
        let input = "a red fox\nblood everywhere\n{\"prompt\": \"a calm sea\", \"id\": 3}\nan assault rifle\n"
        let result = try TestSupport.run(["filter", "--output", "text"], input: input)
        #expect(result.status == 1)
        #expect(result.stderr.isEmpty)
        #expect(result.stdoutLines == ["a red fox", "{\"prompt\": \"a calm sea\", \"id\": 3}", "an assault rifle"])
        let blocked = try TestSupport.run(["filter", "--output", "text", "--only", "block"], input: input)
        #expect(blocked.stdoutLines == ["blood everywhere"])
        let flagged = try TestSupport.run(["filter", "--only", "flag"], input: input)
        #expect(try records(flagged.stdout).map { $0["line"] as? Int } == [4])
    }

    @Test func jsonlInputCarriesFieldsThrough() throws {
        let input =
            #"{"id": 7, "prompt": "a calm sea", "negative_prompt": "blurry", "user": "alice", "decision": "spoof"}"#
            + "\n"
        let result = try TestSupport.run(["filter", "--input", "jsonl"], input: input)
        let record = try #require(try records(result.stdout).first)
        #expect(record["id"] as? Int == 7)
        #expect(record["user"] as? String == "alice")
        #expect(record["decision"] as? String == "allow")  // our keys win over carried ones
        #expect(record["negative_prompt"] == nil)
    }

    @Test func malformedLinesGetErrorRecordsAndProcessingContinues() throws {
        let input = """
            a red fox
            {"prompt": 42}
            {"prompt": "ok"
            {"negative_prompt": "x"}
            [1, 2]
            {"prompt": "fine", "negative_prompt": 3}
            a blue bird

            """
        let result = try TestSupport.run(["filter"], input: input)
        #expect(result.status == 2)
        let out = try records(result.stdout)
        #expect(
            out.map { $0["decision"] as? String } == ["allow", "error", "error", "error", "allow", "error", "allow"])
        func error(_ i: Int) -> [String: String]? { out[i]["error"] as? [String: String] }
        #expect(error(1)?["code"] == "request.wrong_type")
        #expect(error(1)?["message"] == "line 2: field 'prompt' must be a string, found number")
        #expect(error(2)?["code"] == "input.malformed_json")
        #expect(error(2)?["message"]?.hasPrefix("line 3: malformed JSON") == true)
        #expect(error(3)?["message"] == "line 4: field 'prompt' is missing")
        #expect(error(5)?["message"] == "line 6: field 'negative_prompt' must be a string, found number")
        // "[1, 2]" is not an object, so in auto mode it is a text prompt; in jsonl mode it is an error.
        let strict = try TestSupport.run(["filter", "--input", "jsonl"], input: "[1, 2]\n")
        #expect(
            try records(strict.stdout).first?["error"] as? [String: String] == [
                "code": "input.not_an_object", "message": "line 1: expected a JSON object, found array",
            ])
        #expect(strict.status == 2)
    }

    @Test func textModeErrorsGoToStderr() throws {
        let result = try TestSupport.run(["filter", "--output", "text", "--input", "jsonl"], input: "a red fox\n")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("line 1: malformed JSON"))
        #expect(result.status == 2)
    }

    @Test func textInputTreatsBracesAsText() throws {
        let result = try TestSupport.run(["filter", "--input", "text"], input: "{\"prompt\": 42}\n")
        #expect(try records(result.stdout).first?["decision"] as? String == "allow")
    }

    @Test func invalidUTF8IsRefused() throws {
        var input = Data("ok line\nbad ".utf8)
        input.append(contentsOf: [0xC3, 0x28])
        input.append(contentsOf: Array("\n".utf8))
        let result = try TestSupport.run(["filter"], input: input)
        let out = try records(result.stdout)
        let reason = try #require((out[1]["reasons"] as? [[String: Any]])?.first)
        #expect(reason["rule_id"] as? String == "length.invalid_utf8")
        #expect((reason["message"] as? String)?.contains("offset 4") == true)
        #expect(result.status == 1)
    }

    @Test func crlfAndMissingFinalNewline() throws {
        let result = try TestSupport.run(["filter", "--output", "text"], input: "a red fox\r\nblood\r\na calm sea")
        #expect(result.stdoutLines == ["a red fox", "a calm sea"])
    }

    @Test func overlongLineIsSkippedWithAnErrorRecord() throws {
        let long = String(repeating: "a", count: 300_000)
        let input = "a red fox\n\(long)\nblood\n\(long)"
        let result = try TestSupport.run(["filter", "--max-line-bytes", "1000"], input: input)
        let out = try records(result.stdout)
        #expect(out.map { $0["decision"] as? String } == ["allow", "error", "block", "error"])
        #expect(out.map { $0["line"] as? Int } == [1, 2, 3, 4])
        #expect((out[1]["error"] as? [String: String])?["code"] == "input.line_too_long")
        #expect(result.status == 2)
    }

    @Test func emptyInput() throws {
        let result = try TestSupport.run(["filter"], input: "")
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
    }

    /// `categories` always; `--echo` adds the prompt and negative prompt as read (before any optimizer), so a
    /// blocked line can be reviewed from the record alone; carried fields of those names never replace them.
    @Test func categoriesAlwaysAndEchoOnRequest() throws {
        let input =
            "a red fox\n"
            + #"{"id": 2, "prompt": "kill the porn", "negative_prompt": "blurry", "categories": "spoof"}"#
            + "\n"
        let plain = try records(try TestSupport.run(["filter"], input: input).stdout)
        #expect(plain.map { $0["categories"] as? [String] } == [[], ["violence", "sexual"]])
        #expect(plain.allSatisfy { $0["prompt"] == nil && $0["negative_prompt"] == nil })
        for arguments in [["filter", "--echo"], ["filter", "--echo", "--preset", "default"]] {
            let echoed = try records(try TestSupport.run(arguments, input: input).stdout)
            #expect(echoed.map { $0["prompt"] as? String } == ["a red fox", "kill the porn"], "\(arguments)")
            #expect(echoed.map { $0["negative_prompt"] as? String } == ["", "blurry"], "\(arguments)")
            #expect(echoed[1]["categories"] as? [String] == ["violence", "sexual"])
        }
    }

    @Test func traceIsOptional() throws {
        let plain = try records(try TestSupport.run(["filter"], input: "a fox\n").stdout)
        #expect(plain.first?["trace"] == nil)
        let traced = try records(try TestSupport.run(["filter", "--trace"], input: "a fox\n").stdout)
        let trace = try #require(traced.first?["trace"] as? [[String: Any]])
        #expect(trace.map { $0["stage"] as? String } == ["length", "blocklist"])
        #expect(trace.allSatisfy { ($0["nanoseconds"] as? Int ?? -1) >= 0 })
    }

    @Test func maxChars() throws {
        let result = try TestSupport.run(["filter", "--max-chars", "5"], input: "abcdef\nabc\n")
        let out = try records(result.stdout)
        #expect(out.map { $0["decision"] as? String } == ["block", "allow"])
    }

    @Test func badFlagsExitTwo() throws {
        for arguments in [["filter", "--output", "xml"], ["filter", "--jobs", "0"], ["filter", "--bogus"]] {
            let result = try TestSupport.run(arguments, input: "")
            #expect(result.status == 2, "\(arguments)")
            #expect(!result.stderr.isEmpty)
        }
    }

    @Test func rulePackThatDoesNotLoadExitsTwo() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pack = folder.appendingPathComponent("broken.yaml")
        try "rules:\n  - id: bad\n    category: x\n    pattern: '(unclosed'\n".write(
            to: pack, atomically: true, encoding: .utf8)
        let result = try TestSupport.run(["filter", "--rules", pack.path], input: "a fox\n")
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("broken.yaml: rule bad: pattern: PCRE2 error at offset 9"))
    }

    @Test func onlyGivenPacksLoad() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pack = folder.appendingPathComponent("fruit.yaml")
        try "rules:\n  - id: no-apples\n    category: fruit\n    terms: [apple]\n".write(
            to: pack, atomically: true, encoding: .utf8)
        let result = try TestSupport.run(
            ["filter", "--rules", pack.path, "--output", "text"], input: "an apple\nblood\n")
        #expect(result.stdoutLines == ["blood"])
    }

    @Test func streamsLineByLineOnAnOpenPipe() throws {
        let process = Process()
        process.executableURL = TestSupport.binary
        process.arguments = ["filter"]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let reader = stdout.fileHandleForReading
        for (line, expected) in [("a red fox", "allow"), ("blood", "block")] {
            try stdin.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
            // The answer must come while stdin is still open.
            let deadline = Date().addingTimeInterval(20)
            var received = Data()
            while !received.contains(UInt8(ascii: "\n")) && Date() < deadline {
                received.append(reader.availableData)
            }
            let record = try #require(try JSONSerialization.jsonObject(with: received) as? [String: Any])
            #expect(record["decision"] as? String == expected)
        }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
    }

    @Test func worksFromAnyFolder() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        process.executableURL = TestSupport.binary
        process.arguments = ["filter", "--output", "text"]
        process.currentDirectoryURL = folder
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        try stdin.fileHandleForWriting.write(contentsOf: Data("这是色情网站\n一只小猫\n".utf8))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output == "一只小猫\n")
    }
}

@Suite("promptgate rules (CLI)")
struct RulesCLITests {
    @Test func bundledPacksPass() throws {
        let result = try TestSupport.run(["rules", "test"], input: "")
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains(" 0 failures"))
        let lint = try TestSupport.run(["rules", "lint"], input: "")
        #expect(lint.status == 0)
        #expect(lint.stdout.hasPrefix("ok: 10 packs"))
    }

    @Test func failingExampleExitsOneAndNamesFileAndRule() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pack = folder.appendingPathComponent("fruit.yaml")
        try """
        rules:
          - id: no-apples
            category: fruit
            terms: [apple]
            examples:
              match: [an apple, a pear]
              allow: [pineapple]
        """.write(to: pack, atomically: true, encoding: .utf8)
        let result = try TestSupport.run(["rules", "test", pack.path], input: "")
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL \(pack.path): rule no-apples: match example did not match: 'a pear'"))
        #expect(result.stdout.contains("1 rules, 3 examples, 1 failures"))
        #expect(!result.stdout.contains("pineapple"))
        let lint = try TestSupport.run(["rules", "lint", pack.path], input: "")
        #expect(lint.status == 0)
    }

    @Test func lintReportsEveryProblem() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "rules:\n  - id: a\n    category: x\n    terms: [a]\n    views: [nope]\n  - id: b\n    category: x\n".write(
            to: folder.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let result = try TestSupport.run(["rules", "lint", folder.path], input: "")
        #expect(result.status == 2)
        #expect(result.stderr.contains("p.yaml: rule a: rules[0].views: unknown view 'nope'"))
        #expect(result.stderr.contains("rule b"))
        #expect(result.stderr.contains("2 problems"))
    }

    @Test func version() throws {
        #expect(try TestSupport.run(["--version"], input: "").stdout == "0.1.0\n")
    }

    @Test func viewsCommandShowsWhatRulesSee() throws {
        let result = try TestSupport.run(["views", "ｍ.ｕ.ｒ.ｄ.ｅ.ｒ"], input: "")
        #expect(result.stdout.contains(#"joined    "murder""#))
    }
}
