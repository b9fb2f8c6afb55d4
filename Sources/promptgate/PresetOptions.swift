import ArgumentParser
import PromptGateCore

/// Options shared by commands that optimize with presets.
struct PresetOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Optimize with this preset (bundled or from --presets) after the policy filters.", valueName: "name"))
    var preset: String?

    @Option(
        help: ArgumentHelp(
            "Load a preset file and optimize with it (it may extend bundled presets).", valueName: "path"))
    var presetFile: String?

    @OptionGroup var extra: PresetPathOptions

    /// The extra preset files and folders (`--presets`).
    var paths: [String] { extra.paths }

    /// Whether optimizers should run at all.
    var isEnabled: Bool { preset != nil || presetFile != nil }

    /// Loads the presets and returns them with the default one's name.
    func load() throws -> (presets: [String: Preset], defaultName: String) {
        let files = paths + (presetFile.map { [$0] } ?? [])
        let presets = try PresetLoader.load(paths: files)
        var name = preset ?? "default"
        if let presetFile, preset == nil {
            // The preset defined in that file.
            name = presets.values.first(where: { $0.source == presetFile })?.name ?? name
        }
        return (presets, name)
    }
}

/// `--presets PATH` (repeatable): the one spelling every command that loads presets takes.
struct PresetPathOptions: ParsableArguments {
    @Option(
        name: .customLong("presets"),
        help: ArgumentHelp(
            "Extra preset files or folders to load (repeatable); they replace bundled ones of the same name.",
            valueName: "path"))
    var paths: [String] = []
}
