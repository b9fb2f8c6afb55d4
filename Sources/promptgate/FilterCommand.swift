import ArgumentParser
import Foundation
import PromptGateCore
import PromptGateFilter

extension InputFormat: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}
extension OutputSelection: ExpressibleByArgument {}

struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Judge prompts from stdin, one per line; write verdicts to stdout.",
        discussion: """
            Exit status: 0 when every prompt was let through, 1 when at least one was blocked, 2 on an error \
            (bad flag, rule pack that does not load, or a malformed input line, which also gets an error \
            record on stdout while processing continues).
            """
    )

    @Option(
        help:
            "Input lines: text (one prompt per line), jsonl (objects with prompt, negative_prompt, id, ...), or auto (per line)."
    )
    var input: InputFormat = .auto

    @Option(
        help:
            "Output: jsonl (a verdict per line, with the optimized request when a preset is used) or text (only the prompts that pass, like grep -v; optimized when a preset is used)."
    )
    var output: OutputFormat = .jsonl

    @Option(help: "Keep only one kind: allow (let through, including flagged), flag, or block.")
    var only: OutputSelection?

    @OptionGroup var rules: RuleOptions

    @OptionGroup var presets: PresetOptions

    @Option(help: "Maximum prompt length in characters (Unicode scalars).")
    var maxChars: Int = LengthLimit.defaultPrompt.maxScalars ?? 1000

    @Option(help: "Longest input line in bytes; longer lines get an error record and are skipped.")
    var maxLineBytes: Int = 1 << 20

    @Flag(help: "Add the per-stage trace (nanoseconds per stage) to each JSONL record.")
    var trace = false

    @Flag(help: "Add the prompt and negative prompt as read to each JSONL record (to review blocked lines).")
    var echo = false

    @Option(help: "Worker threads (default: one per core).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Never print progress on stderr (it is shown only when stderr is a terminal).")
    var quiet = false

    func validate() throws {
        guard maxChars > 0 else { throw ValidationError("--max-chars must be positive") }
        guard jobs > 0 else { throw ValidationError("--jobs must be positive") }
        guard maxLineBytes > 0 else { throw ValidationError("--max-line-bytes must be positive") }
    }

    func run() throws {
        var limits: [PromptField: LengthLimit] = [.prompt: .defaultPrompt, .negativePrompt: .defaultNegativePrompt]
        limits[.prompt]?.maxScalars = maxChars
        limits[.prompt]?.maxBytes = max(maxChars * 4, LengthLimit.defaultPrompt.maxBytes ?? 0)
        let builder = PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths, lengthLimits: limits))
        let pipelines: LineFilterRunner.Pipelines
        if presets.isEnabled {
            let (loaded, name) = try presets.load()
            pipelines = .presets(try builder.build(presets: loaded, defaultPreset: name))
        } else {
            pipelines = .policy(try builder.build())
        }
        let runner = LineFilterRunner(
            pipelines: pipelines, input: input, output: output, selection: only, includeTrace: trace, echo: echo,
            jobs: jobs,
            maxLineBytes: maxLineBytes)
        let showProgress = !quiet && isatty(STDERR_FILENO) == 1
        var lastReport = ContinuousClock.now
        let stats = try runner.run(
            inputFD: STDIN_FILENO, outputFD: STDOUT_FILENO,
            diagnostics: { FileHandle.standardError.write(Data("promptgate: \($0)\n".utf8)) },
            progress: { stats in
                guard showProgress, ContinuousClock.now - lastReport > .milliseconds(250) else { return }
                lastReport = .now
                FileHandle.standardError.write(Data("\r\(Self.summary(stats))".utf8))
            })
        if showProgress { FileHandle.standardError.write(Data("\r\(Self.summary(stats))\n".utf8)) }
        if stats.errors > 0 { throw ExitCode(2) }
        if stats.blocked > 0 { throw ExitCode(1) }
    }

    static func summary(_ stats: FilterStats) -> String {
        "\(stats.lines) prompts: \(stats.allowed) allowed, \(stats.flagged) flagged, \(stats.blocked) blocked, \(stats.errors) errors"
    }
}
