import Foundation

/// `promptgate filter` run as a user runs it (a process reading the corpus file, writing verdicts), against the
/// Python baselines on the same corpus and terms, interleaved round by round so that a busy machine slows all
/// of them alike. Prints CPU seconds (user + system), wall seconds and CPU µs a line; the median of the rounds.
public struct EndToEnd {
    /// Where the corpus (`corpus.jsonl`), `small-pack.yaml` and `terms.txt` are.
    public var folder: String
    /// Lines in the corpus.
    public var lines: Int
    /// Rounds per command.
    public var rounds: Int

    /// A runner over the files in `folder`.
    public init(folder: String, lines: Int, rounds: Int) {
        self.folder = folder
        self.lines = lines
        self.rounds = rounds
    }

    struct Contender {
        var label: String
        var executable: String
        var arguments: [String]
        var input: String
    }

    /// This executable (the `promptgate` that runs the benchmark).
    static var promptgate: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The small pack: PromptGate on two threads and on one, with the bundled packs, and the baselines.
    public func compare() throws {
        let scripts = try writeScripts()
        let corpus = folder + "/corpus.jsonl"
        let filter = [Self.promptgate, "filter", "--input", "jsonl", "--quiet"]
        var contenders = [
            Contender(
                label: "promptgate filter, small pack", executable: filter[0],
                arguments: Array(filter.dropFirst()) + ["--rules", folder + "/small-pack.yaml"], input: corpus),
            Contender(
                label: "promptgate filter, small pack, --jobs 1", executable: filter[0],
                arguments: Array(filter.dropFirst()) + ["--rules", folder + "/small-pack.yaml", "--jobs", "1"],
                input: corpus),
            Contender(
                label: "promptgate filter, bundled packs", executable: filter[0], arguments: Array(filter.dropFirst()),
                input: corpus),
            Contender(
                label: "naive Python regex loop, small pack", executable: "python3",
                arguments: [scripts.naive, folder + "/terms.txt"], input: corpus),
        ]
        if Self.hasAhoCorasick(scripts.aho, terms: folder + "/terms.txt") {
            contenders.append(
                Contender(
                    label: "pyahocorasick, small pack", executable: "python3",
                    arguments: [scripts.aho, folder + "/terms.txt"], input: corpus))
        } else {
            print("pyahocorasick is not installed (pip install pyahocorasick): left out")
        }
        contenders.append(
            Contender(
                label: "promptgate filter, small pack, empty input (start-up)", executable: filter[0],
                arguments: Array(filter.dropFirst()) + ["--rules", folder + "/small-pack.yaml"], input: "/dev/null"))
        contenders.append(
            Contender(
                label: "promptgate filter, bundled packs, empty input (start-up)", executable: filter[0],
                arguments: Array(filter.dropFirst()), input: "/dev/null"))
        let results = try run(contenders)
        let naive = results.first { $0.label.hasPrefix("naive") }?.cpu
        print("end to end, \(lines) lines, median of \(rounds) interleaved rounds:")
        for result in results {
            var line =
                "  \(result.label): \(Self.fixed(result.cpu)) s CPU, \(Self.fixed(result.wall)) s wall"
            if result.input != "/dev/null" {
                line += ", \(Self.fixed(result.cpu / Double(lines) * 1e6)) µs CPU a line"
                line += ", \(Int(Double(lines) / result.wall)) lines/s"
                if let naive, !result.label.hasPrefix("naive") {
                    line += ", \(Self.fixed(naive / result.cpu))× the naive loop's CPU"
                }
                line += ", \(result.blocked) blocked"
            }
            print(line)
        }
    }

    /// Cost per line against the number of terms: PromptGate (one thread, start-up subtracted) and
    /// pyahocorasick, on generated packs; and the time to load each pack.
    public func packCurve(_ sizes: [Int]) throws {
        let scripts = try writeScripts()
        let aho = Self.hasAhoCorasick(scripts.aho, terms: folder + "/terms.txt")
        var contenders: [Contender] = []
        for size in sizes {
            try GeneratedPack.write(count: size, to: folder)
            let filter = [
                "filter", "--input", "jsonl", "--quiet", "--jobs", "1", "--rules", folder + "/pack-\(size).yaml",
            ]
            contenders.append(
                Contender(
                    label: "promptgate \(size)", executable: Self.promptgate, arguments: filter,
                    input: folder + "/corpus.jsonl"))
            contenders.append(
                Contender(label: "load \(size)", executable: Self.promptgate, arguments: filter, input: "/dev/null"))
            if aho {
                contenders.append(
                    Contender(
                        label: "pyahocorasick \(size)", executable: "python3",
                        arguments: [scripts.aho, folder + "/terms-\(size).txt"], input: folder + "/corpus.jsonl"))
            }
        }
        let results = try run(contenders)
        func result(_ label: String) -> Measured? { results.first { $0.label == label } }
        print("pack size, \(lines) lines, one thread, median of \(rounds) rounds (CPU µs a line; load = empty input):")
        var first: Double?
        for size in sizes {
            guard let run = result("promptgate \(size)"), let load = result("load \(size)") else { continue }
            let perLine = (run.cpu - load.cpu) / Double(lines) * 1e6
            if first == nil { first = perLine }
            var line =
                "  \(size) terms: promptgate \(Self.fixed(perLine)) µs (\(Self.fixed(perLine / (first ?? perLine)))× the "
                + "first size), load \(Self.fixed(load.cpu)) s CPU, \(run.blocked) blocked"
            if let python = result("pyahocorasick \(size)") {
                line += "; pyahocorasick \(Self.fixed(python.cpu / Double(lines) * 1e6)) µs, \(python.blocked) blocked"
            }
            print(line)
        }
    }

    struct Measured {
        var label: String
        var input: String
        var cpu: Double
        var wall: Double
        var blocked: Int
    }

    /// Runs every contender once per round, in turn, and keeps the median of each.
    func run(_ contenders: [Contender]) throws -> [Measured] {
        var costs = Array(repeating: [CommandCost](), count: contenders.count)
        var blocked = Array(repeating: 0, count: contenders.count)
        let output = folder + "/verdicts.jsonl", errors = folder + "/stderr.txt"
        for _ in 0..<rounds {
            for (index, contender) in contenders.enumerated() {
                let cost = try CommandCost.measure(
                    contender.executable, contender.arguments, input: contender.input, output: output, errors: errors)
                guard cost.status <= 1 else {
                    let said = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
                    throw CommandCost.Failure(
                        message: "\(contender.label) exited with status \(cost.status): \(said.suffix(2000))")
                }
                costs[index].append(cost)
                blocked[index] = Self.countBlocked(output)
            }
        }
        return contenders.enumerated().map { index, contender in
            let cpu = costs[index].map(\.cpuSeconds).sorted()[rounds / 2]
            let wall = costs[index].map(\.wallSeconds).sorted()[rounds / 2]
            return Measured(
                label: contender.label, input: contender.input, cpu: cpu, wall: wall, blocked: blocked[index])
        }
    }

    /// Verdict lines whose decision is block (both PromptGate's and the baselines' records say so).
    static func countBlocked(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        var count = 0
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if line.firstRange(of: Array(#""decision":"block""#.utf8)) != nil
                || line.firstRange(of: Array(#""decision": "block""#.utf8)) != nil
            {
                count += 1
            }
        }
        return count
    }

    func writeScripts() throws -> (naive: String, aho: String) {
        let naive = folder + "/naive_filter.py", aho = folder + "/ahocorasick_filter.py"
        try Data(PackageResources.naive_filter_py).write(to: URL(fileURLWithPath: naive))
        try Data(PackageResources.ahocorasick_filter_py).write(to: URL(fileURLWithPath: aho))
        return (naive, aho)
    }

    static func hasAhoCorasick(_ script: String, terms: String) -> Bool {
        let cost = try? CommandCost.measure("python3", [script, terms], input: "/dev/null", output: "/dev/null")
        return cost?.status == 0
    }

    static func fixed(_ value: Double) -> String { String(format: "%.2f", value) }
}
