import Foundation
import PromptGateBench
@testable import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Loading rule packs")
struct RuleLoadingTests {
    func problems(_ yaml: String, file: String = "pack.yaml") -> [LoadProblem] {
        do {
            _ = try TestSupport.rules(yaml: yaml, name: file)
            return []
        } catch let error as RuleLoadError {
            return error.problems
        } catch {
            return [LoadProblem(file: "?", keyPath: "", message: "unexpected \(error)")]
        }
    }

    @Test func badPatternNamesFileRuleFieldAndPCRE2Offset() throws {
        let found = problems("rules:\n  - id: bad-re\n    category: x\n    pattern: 'abc(def'\n")
        let problem = try #require(found.first)
        #expect(problem.file == "pack.yaml")
        #expect(problem.ruleID == "bad-re")
        #expect(problem.keyPath == "pattern")
        #expect(problem.message.contains("offset 7"))
        #expect(problem.message.contains("missing closing parenthesis"))
    }

    @Test func badExceptionPattern() throws {
        let found = problems("rules:\n  - id: r\n    category: x\n    terms: [a]\n    exceptions: ['ok', '(?<bad']\n")
        let problem = try #require(found.first)
        #expect(problem.keyPath == "exceptions[1]")
        #expect(problem.ruleID == "r")
    }

    @Test func duplicateIDAcrossPacks() throws {
        let pack = "rules:\n  - id: same\n    category: x\n    terms: [a]\n"
        #expect(throws: RuleLoadError.self) {
            _ = try RulePackLoader.parse(sources: [("one.yaml", pack), ("two.yaml", pack)])
        }
        do {
            _ = try RulePackLoader.parse(sources: [("one.yaml", pack), ("two.yaml", pack)])
        } catch {
            let problem = try #require(error.problems.first)
            #expect(problem.file == "two.yaml")
            #expect(problem.ruleID == "same")
            #expect(problem.message.contains("one.yaml"))
        }
    }

    @Test(arguments: [
        (
            "rules:\n  - id: r\n    category: x\n    terms: [a]\n    views: [folded, sideways]\n",
            "unknown view 'sideways'"
        ),
        ("rules:\n  - id: r\n    category: x\n", "needs 'terms' or 'pattern'"),
        ("rules:\n  - id: r\n    category: x\n    terms: [a]\n    pattern: b\n", "not both"),
        ("rules:\n  - id: r\n    category: x\n    terms: []\n", "'terms' is empty"),
        (
            "rules:\n  - id: r\n    category: x\n    terms: [a]\n    severity: extreme\n",
            "'extreme' is not one of low | medium | high"
        ),
        (
            "rules:\n  - id: r\n    category: x\n    terms: [a]\n    action: delete\n",
            "'delete' is not one of block | flag"
        ),
        ("rules:\n  - id: r\n    category: x\n    terms: [a]\n    colour: red\n", "unknown key 'colour'"),
        ("rules:\n  - id: r\n    category: x\n    terms: ['-dash']\n", "must start and end with a letter"),
        ("rules:\n  - id: r\n    terms: [a]\n", "missing key 'category'"),
        ("rules:\n  - category: x\n    terms: [a]\n", "missing key 'id'"),
        ("rules:\n  - id: r\n    category: x\n    terms: [a]\n    fields: [title]\n", "unknown field 'title'"),
        ("rules: [\n", "YAML syntax error"),
        ("something: else\n", "unknown key 'something'"),
        ("", "empty file"),
        ("rules:\n  - just a string\n", "expected a mapping"),
    ])
    func problemIsReported(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.message.contains(expected) }, "\(found)")
        #expect(found.allSatisfy { $0.file == "pack.yaml" })
    }

    @Test func brokenPackNeverLoadsHalf() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "rules:\n  - id: good\n    category: x\n    terms: [apple]\n".write(
            to: folder.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "rules:\n  - id: bad\n    category: x\n    pattern: '('\n".write(
            to: folder.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: RuleLoadError.self) { _ = try RuleSet.load(paths: [folder.path]) }
        do {
            _ = try RuleSet.load(paths: [folder.path])
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].file.hasSuffix("b.yaml"))
            #expect(error.message.contains("rule bad"))
        }
    }

    @Test func missingPathAndEmptyFolder() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: RuleLoadError.self) { _ = try RuleSet.load(paths: ["/no/such/pack.yaml"]) }
        #expect(throws: RuleLoadError.self) { _ = try RuleSet.load(paths: [folder.path]) }
    }

    @Test func loadsFolderSortedAndOnlyGivenPacks() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "rules:\n  - id: b-rule\n    category: x\n    terms: [banana]\n".write(
            to: folder.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try "rules:\n  - id: a-rule\n    category: x\n    terms: [apple]\n".write(
            to: folder.appendingPathComponent("a.yml"), atomically: true, encoding: .utf8)
        try "not a pack".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let rules = try RuleSet.load(paths: [folder.path])
        #expect(rules.rules.map(\.id) == ["a-rule", "b-rule"])
        #expect(rules.scan(NormalizedText("murder"), field: .prompt).hits.isEmpty)
        #expect(rules.scan(NormalizedText("an apple"), field: .prompt).hits.count == 1)
    }

    @Test func defaultsOfARule() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: t\n    category: x\n    terms: [a]\n  - id: p\n    category: x\n    pattern: b\n")
        #expect(rules.rules[0].views == ViewKind.allCases)
        #expect(rules.rules[0].severity == .medium)
        #expect(rules.rules[0].action == .block)
        #expect(rules.rules[0].fields == [.prompt])
        #expect(rules.rules[1].views == [.folded])
    }
}

@Suite("Bundled packs")
struct BundledPackTests {
    @Test func everyPackInRulesFolderIsBundled() throws {
        let folder = TestSupport.packageRoot.appendingPathComponent("rules")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        let bundled = BundledRules.packs.map { ($0.name as NSString).lastPathComponent }.sorted()
        #expect(files == bundled)
        for pack in BundledRules.packs {
            let onDisk = try String(
                contentsOf: folder.appendingPathComponent((pack.name as NSString).lastPathComponent), encoding: .utf8)
            #expect(onDisk == pack.text, "\(pack.name) differs from the embedded copy; rebuild")
        }
    }

    @Test func everyExamplePasses() {
        let report = RuleTester.run(TestSupport.bundledRules)
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.examples > 100)
    }

    @Test func requiredCategoriesAndSeedTermsAreCovered() {
        let categories = Set(TestSupport.bundledRules.rules.map(\.category))
        for category in ["violence", "gore", "sexual", "weapons", "hate", "self_harm"] {
            #expect(categories.contains(category))
        }
        for term in ["暴力", "血腥", "色情", "violence", "blood", "porn"] {
            #expect(TestSupport.judge("看 \(term) 的图").verdict.decision == .block, "\(term)")
        }
        for rule in TestSupport.bundledRules.rules {
            #expect(!rule.matchExamples.isEmpty && !rule.allowExamples.isEmpty, "\(rule.id) needs examples")
        }
    }

    @Test func ruleTesterReportsFailures() throws {
        let rules = try TestSupport.rules(
            yaml: """
                rules:
                  - id: t
                    category: x
                    terms: [apple]
                    examples:
                      match: [an apple, a pear]
                      allow: [pineapple, apple pie]
                """)
        let report = RuleTester.run(rules)
        #expect(report.examples == 4)
        #expect(report.failures.map(\.example) == ["a pear", "apple pie"])
        #expect(report.failures.allSatisfy { $0.ruleID == "t" && $0.file == "inline.yaml" })
    }
}

/// Blocklists of thousands of terms load (PCRE2 caps one compiled pattern at 64 KiB) and every term matches.
@Suite("Large packs")
struct LargePackTests {
    @Test func tenThousandTermsLoadAndMatch() async throws {
        let (chunkCounts, results, quiet) = try await TestSupport.offThePool {
            let terms = GeneratedPack.terms(count: 10_000)
            let rules = try TestSupport.rules(yaml: GeneratedPack.pack(terms))
            let probes = stride(from: 0, to: terms.count, by: 97).map { terms[$0] } + [terms.last!]
            let results = probes.map { term in
                (term, rules.scan(NormalizedText("before \(term) after"), field: .prompt).hits.map(\.matched))
            }
            let quiet = rules.scan(NormalizedText("nothing to see here"), field: .prompt).hits.isEmpty
            return (ViewKind.allCases.map { rules.termChunks[$0.order].count }, results, quiet)
        }
        #expect(chunkCounts.allSatisfy { $0 > 1 }, "\(chunkCounts)")
        for (term, matched) in results { #expect(matched == [term]) }
        #expect(quiet)
    }
}

/// The prefix index only skips positions where no term can match: with it and without it, every scan finds
/// the same hits, on the generated prompt log and the evasion examples, with the bundled packs and a large
/// generated pack.
@Suite("Term prefix index")
struct TermPrefixIndexTests {
    static let texts: [String] =
        BenchmarkCorpus.generate(count: 1_000, seed: 99) + [
            "KILL", "Kill them", "MURDER", "ＭＵＲＤＥＲ", "K\u{212A}ILL", "ſex", "self harm", "self-harm",
            "selfharm", "kkkiiilllll", "p o r n", "色 情", "屠殺", "k\u{0338}i\u{0338}l\u{0338}l\u{0338}",
            "a |<ill b", "ÉCOLE école", "PÉNIS pénis", "xxx video", "blowjob", "an ill cat",
        ]

    @Test(arguments: [0, 2_000])
    func sameHitsWithAndWithoutTheIndex(generated: Int) async throws {
        let differences = try await TestSupport.offThePool {
            let rules =
                generated == 0
                ? TestSupport.bundledRules
                : try TestSupport.rules(yaml: GeneratedPack.pack(GeneratedPack.terms(count: generated)))
            var differences: [String] = []
            for text in Self.texts {
                for field in [PromptField.prompt, .negativePrompt] {
                    let with = rules.scratchPool.withScratch {
                        rules.scan(NormalizedText(text), field: field, scratch: $0)
                    }
                    let without = rules.scratchPool.withScratch {
                        rules.scan(NormalizedText(text), field: field, scratch: $0, prefilter: false)
                    }
                    if with != without { differences.append("\(field) \(text)") }
                }
            }
            return differences
        }
        #expect(differences.isEmpty, "\(differences.prefix(10))")
    }
}

/// The benchmark's prompt log has the shape the issue asks for, and its small pack catches the disguises.
@Suite("Benchmark corpus")
struct BenchmarkCorpusTests {
    @Test func shapedLikeARealPromptLog() async throws {
        let prompts = BenchmarkCorpus.generate(count: 3_000)
        #expect(prompts == BenchmarkCorpus.generate(count: 3_000))  // deterministic
        let lengths = prompts.map(\.utf8.count)
        #expect(lengths.allSatisfy { $0 >= 100 && $0 <= 400 })
        let chinese = prompts.filter { $0.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) } }
        #expect((0.28...0.40).contains(Double(chinese.count) / 3_000))
        let caught = try await TestSupport.offThePool {
            let rules = try TestSupport.rules(yaml: BenchmarkCorpus.smallPack)
            return prompts.filter { !rules.scan(NormalizedText($0), field: .prompt).hits.isEmpty }.count
        }
        #expect((0.15...0.22).contains(Double(caught) / 3_000), "\(caught)")
        for line in BenchmarkCorpus.jsonLines(count: 50) {
            guard case .object(let object) = try JSONReader.parse(Array(line.utf8)) else {
                Issue.record("not an object: \(line)")
                continue
            }
            #expect(object.keys.sorted() == ["id", "prompt"])
        }
    }
}
