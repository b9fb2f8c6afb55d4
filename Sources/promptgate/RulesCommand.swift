import ArgumentParser
import Foundation
import PromptGateCore

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check rule packs.",
        subcommands: [Test.self, Lint.self]
    )

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every rule's examples; exit 1 if any fails, 2 if the packs do not load.")

        @Argument(help: "Rule pack files or folders (default: the bundled packs).")
        var paths: [String] = []

        func run() throws {
            let rules = try RuleSet.load(paths: paths)
            let report = RuleTester.run(rules)
            for failure in report.failures { print("FAIL \(failure)") }
            print("\(report.rules) rules, \(report.examples) examples, \(report.failures.count) failures")
            if !report.failures.isEmpty { throw ExitCode(1) }
        }
    }

    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and compile rule packs only; exit 2 with every problem listed if they do not load.")

        @Argument(help: "Rule pack files or folders (default: the bundled packs).")
        var paths: [String] = []

        func run() throws {
            let rules = try RuleSet.load(paths: paths)
            let files = Set(rules.rules.map(\.source)).count
            print("ok: \(files) packs, \(rules.rules.count) rules, \(rules.termCount) terms")
        }
    }
}
