import Foundation
import PromptGateCore

/// Helpers shared by the test targets.
public enum TestSupport {
    /// The bundled packs, compiled once for all tests.
    public static let bundledRules: RuleSet = {
        do {
            return try RuleSet.load(paths: [])
        } catch {
            fatalError("bundled rules do not load: \(error)")
        }
    }()

    /// The default policy pipeline over the bundled packs.
    public static let pipeline = Pipeline(stages: [LengthFilter(), BlocklistFilter(rules: bundledRules)])

    /// The bundled presets, loaded once.
    public static let presets: [String: Preset] = {
        do {
            return try PresetLoader.load()
        } catch {
            fatalError("bundled presets do not load: \(error)")
        }
    }()

    /// Policy then optimizers for every bundled preset (default: `default`).
    public static let presetPipelines: PipelineSet = {
        do {
            return try PipelineBuilder().build(presets: presets, defaultPreset: "default")
        } catch {
            fatalError("preset pipelines do not build: \(error)")
        }
    }()

    /// Runs a JSON request through its preset's pipeline.
    public static func optimize(_ json: [String: JSONValue], pipelines: PipelineSet = presetPipelines) throws
        -> PromptContext
    {
        let request = try PromptRequest(json: json)
        let context = PromptContext(request: request)
        try pipelines.pipeline(for: request).run(context)
        return context
    }

    /// Builds preset pipelines from inline YAML presets (the bundled ones load too).
    public static func pipelines(presetYAML: [String: String], defaultPreset: String) throws -> PipelineSet {
        let sources = BundledPresets.files + presetYAML.map { ("\($0.key).yaml", $0.value) }
        return try PipelineBuilder().build(presets: PresetLoader.parse(sources: sources), defaultPreset: defaultPreset)
    }

    /// Runs the default pipeline on a prompt.
    public static func judge(_ prompt: String, negativePrompt: String = "", pipeline: Pipeline = pipeline)
        -> PromptContext
    {
        let context = PromptContext(request: PromptRequest(prompt: prompt, negativePrompt: negativePrompt))
        do {
            try pipeline.run(context)
        } catch {
            fatalError("pipeline threw: \(error)")
        }
        return context
    }

    /// Runs CPU-heavy test work on a Dispatch thread and returns its result. A synchronous test body holds one
    /// of the cooperative pool's threads (two on a 2-core box) for seconds, and async tests beside it (database
    /// connections, their timeouts) starve. Check the result with `#expect` back in the test.
    public static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Compiles rules from inline YAML.
    public static func rules(yaml: String, name: String = "inline.yaml", matchLimit: UInt32 = RuleSet.defaultMatchLimit)
        throws -> RuleSet
    {
        try RuleSet.compile(RulePackLoader.parse(sources: [(name, yaml)]), matchLimit: matchLimit)
    }

    /// A fresh temporary folder, removed by the caller with `removeItem`.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("promptgate-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The repository root (for `rules/` and `examples/`).
    public static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// The built `promptgate` executable, next to the test bundle.
    public static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "promptgate"),
            Bundle.main.bundleURL.appendingPathComponent("promptgate"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("promptgate"),
            packageRoot.appendingPathComponent(".build/debug/promptgate"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// What a finished process printed and how it exited.
    public struct ProcessResult: Sendable {
        /// Everything written to standard output.
        public var stdout: String
        /// Everything written to standard error.
        public var stderr: String
        /// The exit status.
        public var status: Int32
        /// Standard output split into lines.
        public var stdoutLines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    /// Runs the binary with `arguments`, feeding `input` on stdin; kills it after `timeout` seconds.
    public static func run(_ arguments: [String], input: Data = Data(), timeout: TimeInterval = 60) throws
        -> ProcessResult
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(stdout, outBox), (stderr, errBox)] {
            group.enter()
            DispatchQueue.global().async {
                box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
        }
        try stdin.fileHandleForWriting.write(contentsOf: input)
        try stdin.fileHandleForWriting.close()
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw TimeoutError()
        }
        process.waitUntilExit()
        return ProcessResult(
            stdout: String(decoding: outBox.data, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self),
            status: process.terminationStatus)
    }

    /// Runs the built `promptgate` with `arguments`, feeding `input` on standard input.
    public static func run(_ arguments: [String], input: String) throws -> ProcessResult {
        try run(arguments, input: Data(input.utf8))
    }

    /// A wait that did not end in time.
    public struct TimeoutError: Error {}

    private final class DataBox: @unchecked Sendable {
        // Written by one reader thread before the group is left, read after the wait.
        var data = Data()
    }
}
