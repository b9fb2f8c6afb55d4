import ArgumentParser
import Foundation
import PromptGateCore
import PromptGateFilter

struct OptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Run policy and a preset's optimizers on one request and print the result as JSON.",
        discussion: """
            Give the prompt as arguments, or a whole request with --request '{"prompt": ..., "style": ...}'. \
            Exit status: 0 let through, 1 blocked, 2 on an error (bad request, unknown preset).
            """
    )

    @Argument(help: "The prompt (words are joined with spaces).")
    var prompt: [String] = []

    @Option(
        help:
            "A whole request as a JSON object (prompt, negative_prompt, width, height, steps, cfg_scale, seed, sampler, scheduler, loras, style, template, preset, priority)."
    )
    var request: String?

    @Option(help: "Style name (shorthand for the request field).")
    var style: String?

    @Option(help: "Product template name (shorthand for the request field).")
    var template: String?

    @OptionGroup var presets: PresetOptions

    @OptionGroup var rules: RuleOptions

    @Flag(help: "Add the per-stage trace with what each optimizer changed.")
    var trace = false

    func validate() throws {
        if prompt.isEmpty && request == nil { throw ValidationError("give a prompt or --request") }
        if !prompt.isEmpty && request != nil { throw ValidationError("give either a prompt or --request, not both") }
    }

    func run() throws {
        var object: [String: JSONValue] = [:]
        if let request {
            guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(request.utf8)) else {
                throw ValidationError("--request must be a JSON object")
            }
            object = fields
        } else {
            object["prompt"] = .string(prompt.joined(separator: " "))
        }
        if let style { object["style"] = .string(style) }
        if let template { object["template"] = .string(template) }
        let parsed = try PromptRequest(json: object)
        let (loaded, name) = try presets.isEnabled ? presets.load() : (PresetLoader.load(), "default")
        let set = try PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths)).build(
            presets: loaded, defaultPreset: name)
        let context = PromptContext(request: parsed)
        try set.pipeline(for: parsed).run(context)
        var record = VerdictRecord(line: 1, context: context, includeTrace: trace)
        if !context.verdict.isBlocked { record.request = context.request }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(record), as: UTF8.self))
        if context.verdict.isBlocked { throw ExitCode(1) }
    }
}
