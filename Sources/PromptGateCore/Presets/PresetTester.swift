/// Checks every preset's `examples`: the input request goes through the preset's pipeline (policy, then
/// optimizers) and each field named in `expect` must equal the optimized request's (numbers to 1e-9).
/// `expect` may also hold `decision` and `warnings` (a list of warning codes).
public enum PresetTester {
    /// An example whose output differs from what it expects.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        /// The preset file.
        public var file: String
        /// The preset's name.
        public var preset: String
        /// The example's name.
        public var example: String
        /// What differs (expected and actual).
        public var problem: String
        /// One line naming file, preset, example and problem.
        public var description: String { "\(file): preset \(preset): example '\(example)': \(problem)" }
    }

    /// What a test run checked and what failed.
    public struct Report: Sendable {
        /// Presets tested.
        public var presets = 0
        /// Examples run.
        public var examples = 0
        /// Examples that failed.
        public var failures: [Failure] = []
    }

    /// Runs the examples of `presets` (all of `set`'s presets when nil).
    public static func run(_ presets: [Preset], pipelines set: PipelineSet) -> Report {
        var report = Report()
        for preset in presets.sorted(by: { $0.name < $1.name }) {
            report.presets += 1
            for example in preset.examples {
                report.examples += 1
                func fail(_ problem: String) {
                    report.failures.append(
                        Failure(file: preset.source, preset: preset.name, example: example.name, problem: problem))
                }
                var request: PromptRequest
                do {
                    request = try PromptRequest(json: example.input)
                } catch {
                    fail("input: \(error.message)")
                    continue
                }
                request.preset = request.preset ?? preset.name
                let context = PromptContext(request: request)
                do {
                    try set.pipeline(for: request).run(context)
                } catch {
                    if case .string(let code)? = example.expect["error"], (error as? any PromptGateError)?.code == code
                    {
                        continue
                    }
                    fail("pipeline error: \(error)")
                    continue
                }
                let actual = context.request.jsonObject
                for key in example.expect.keys.sorted() {
                    let expected = example.expect[key]!
                    let found: JSONValue
                    switch key {
                    case "decision": found = .string(context.verdict.decision.rawValue)
                    case "warnings": found = .array(context.warnings.map { .string($0.code) })
                    case "error": found = .null
                    default: found = actual[key] ?? .null
                    }
                    if !Self.same(expected, found) {
                        fail("\(key): expected \(render(expected)), got \(render(found))")
                    }
                }
            }
        }
        return report
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): return abs(x - y) <= 1e-9 * max(1, abs(x), abs(y))
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
        case (.object(let x), .object(let y)):
            return Set(x.keys) == Set(y.keys) && x.keys.allSatisfy { same(x[$0]!, y[$0]!) }
        default: return a == b
        }
    }

    static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array(let items): "[" + items.map(render).joined(separator: ", ") + "]"
        case .object(let object):
            "{" + object.keys.sorted().map { "\($0): \(render(object[$0]!))" }.joined(separator: ", ") + "}"
        }
    }
}
