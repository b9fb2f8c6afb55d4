import Foundation
import PromptGateTestSupport
import Testing

@Suite("Presets from the CLI")
struct PresetCLITests {
    func records(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func filterWithPresetCarriesTheOptimizedRequest() throws {
        let input = """
            {"id": 1, "prompt": "a silk dress", "template": "clothing", "seed": 5}
            blood everywhere
            {"prompt": "a phone", "preset": "electronics-brand", "seed": 6}

            """
        let result = try TestSupport.run(["filter", "--preset", "fashion-shop"], input: input)
        #expect(result.status == 1)
        let out = try records(result.stdout)
        let first = try #require(out[0]["request"] as? [String: Any])
        #expect((first["prompt"] as? String)?.hasPrefix("a silk dress, worn by a model") == true)
        #expect(first["width"] as? Int == 880)
        #expect(first["preset"] as? String == "fashion-shop")
        #expect(first["seed"] as? Int == 5)
        #expect(out[1]["request"] == nil)  // blocked: nothing to generate
        let third = try #require(out[2]["request"] as? [String: Any])
        #expect(third["preset"] as? String == "electronics-brand")
        #expect(third["width"] as? Int == 1360)
    }

    @Test func textOutputPrintsOptimizedPrompts() throws {
        let result = try TestSupport.run(
            ["filter", "--preset", "default", "--output", "text"], input: "a red fox\nblood\n")
        #expect(result.stdoutLines == ["a red fox, high quality, highly detailed, sharp focus, 8k"])
    }

    @Test func badRequestFieldsAreErrorRecords() throws {
        let input = #"{"prompt": "a cat", "width": 1000}"# + "\n" + #"{"prompt": "a cat", "preset": "nope"}"# + "\n"
        let result = try TestSupport.run(["filter", "--preset", "default"], input: input)
        #expect(result.status == 2)
        let errors = try records(result.stdout).map { $0["error"] as? [String: String] }
        #expect(errors[0]?["code"] == "request.out_of_range")
        #expect(errors[0]?["message"] == "line 1: field 'width' must be a multiple of 16, found 1000")
        #expect(errors[1]?["code"] == "request.unknown_name")
    }

    @Test func unknownDefaultPresetExitsTwo() throws {
        let result = try TestSupport.run(["filter", "--preset", "nope"], input: "a cat\n")
        #expect(result.status == 2)
        #expect(result.stderr.contains("field 'preset' names 'nope'"))
    }

    @Test func presetFileOption() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bakery.yaml")
        try "name: bakery\nextends: default\nquality_words: [warm light, crusty bread]\n".write(
            to: file, atomically: true, encoding: .utf8)
        let result = try TestSupport.run(["filter", "--preset-file", file.path, "--output", "text"], input: "a loaf\n")
        #expect(result.stdoutLines == ["a loaf, warm light, crusty bread"])
    }

    @Test func optimizeCommand() throws {
        let result = try TestSupport.run(
            [
                "optimize", "--preset", "fashion-shop", "--template", "clothing", "a", "linen", "dress",
                "<lora:product_style:3>",
            ], input: "")
        #expect(result.status == 0)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let request = try #require(record["request"] as? [String: Any])
        #expect((request["prompt"] as? String)?.hasPrefix("a linen dress, worn by a model") == true)
        let warnings = try #require(record["warnings"] as? [[String: String]])
        #expect(warnings.map { $0["code"] } == ["lora.clamped"])
        let blocked = try TestSupport.run(["optimize", "blood", "everywhere"], input: "")
        #expect(blocked.status == 1)
        let bad = try TestSupport.run(["optimize", "--request", #"{"prompt": "x", "steps": 0}"#], input: "")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("field 'steps' must be between 1 and 10000"))
    }

    @Test func presetsTestAndList() throws {
        let ok = try TestSupport.run(["presets", "test"], input: "")
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect(ok.stdout.contains("4 presets"))
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("x.yaml")
        try "name: x\nextends: default\nexamples: [{name: size, input: {prompt: a}, expect: {width: 512}}]\n".write(
            to: file, atomically: true, encoding: .utf8)
        // A path, or --presets PATH as `filter` and `optimize` spell it.
        for arguments in [["presets", "test", file.path], ["presets", "test", "--presets", file.path]] {
            let failing = try TestSupport.run(arguments, input: "")
            #expect(failing.status == 1, "\(arguments): \(failing.stderr)")
            #expect(
                failing.stdout.contains("FAIL \(file.path): preset x: example 'size': width: expected 512, got 1024"))
        }
        let list = try TestSupport.run(["presets", "list"], input: "")
        #expect(list.stdout.contains("fashion-shop (extends default)"))
        let listed = try TestSupport.run(["presets", "list", "--presets", file.path], input: "")
        #expect(listed.status == 0 && listed.stdout.contains("x (extends default)"))
    }
}
