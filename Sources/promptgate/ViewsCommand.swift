import ArgumentParser
import PromptGateCore

struct ViewsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "views",
        abstract: "Show the normalized views of a text (what rules see), to write or debug rules.")

    @Argument(help: "The text.")
    var text: String

    func run() throws {
        let normalized = NormalizedText(text)
        for view in ViewKind.allCases {
            let shown = normalized.text(of: view).map { "\"\($0)\"" } ?? "(not built: no Han characters)"
            print("\(view.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(shown)")
        }
    }
}
