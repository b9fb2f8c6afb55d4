import ArgumentParser
import Foundation
import PromptGateCore

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "Check and list brand presets.",
        subcommands: [Test.self, List.self]
    )

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every preset's examples; exit 1 if any fails, 2 if the presets do not load.")

        @Argument(help: "Extra preset files or folders (the bundled presets always load; same names are replaced).")
        var paths: [String] = []

        @OptionGroup var extra: PresetPathOptions

        @OptionGroup var rules: RuleOptions

        func run() throws {
            let presets = try PresetLoader.load(paths: paths + extra.paths)
            let set = try PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths)).build(
                presets: presets, defaultPreset: "default")
            let report = PresetTester.run(Array(presets.values), pipelines: set)
            for failure in report.failures { print("FAIL \(failure)") }
            print("\(report.presets) presets, \(report.examples) examples, \(report.failures.count) failures")
            if !report.failures.isEmpty { throw ExitCode(1) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the presets with what they set.")

        @Argument(help: "Extra preset files or folders (the same as --presets).")
        var paths: [String] = []

        @OptionGroup var extra: PresetPathOptions

        func run() throws {
            let presets = try PresetLoader.load(paths: paths + extra.paths)
            for preset in presets.values.sorted(by: { $0.name < $1.name }) {
                let extends = preset.parent.map { " (extends \($0))" } ?? ""
                print("\(preset.name)\(extends): \(preset.description ?? "")")
                print(
                    "  \(preset.defaults.width)×\(preset.defaults.height), \(preset.defaults.steps) steps, cfg \(preset.defaults.cfgScale), \(preset.defaults.sampler)/\(preset.defaults.scheduler); model \(preset.model.name)"
                )
                print(
                    "  styles: \(preset.styles.keys.sorted().joined(separator: ", "))\(preset.defaultStyle.map { " (default \($0))" } ?? "")"
                )
                print("  templates: \(preset.templates.keys.sorted().joined(separator: ", "))")
                print(
                    "  LoRAs: \(preset.loras.available.keys.sorted().joined(separator: ", ")); optimizers: \(preset.optimizers.joined(separator: " → "))"
                )
            }
        }
    }
}
