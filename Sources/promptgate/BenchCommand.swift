import ArgumentParser
import Dispatch
import Foundation
import PromptGateBench
import PromptGateCore
import PromptGateFilter

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the filter on a generated prompt log (build with -c release for real numbers).",
        discussion: """
            The corpus is shaped like a real prompt log: JSONL lines {"id","prompt"} of 100-300 bytes, a third \
            Chinese, a fifth carrying a blocklist term in disguise. Without options: CPU per line by stage on \
            one thread (decode, views, match, whole policy pipeline, encode) and prompts/s on 1 and N threads. \
            --baseline adds `promptgate filter` end to end against a naive Python regex loop and pyahocorasick \
            (when installed) on the same corpus and terms, interleaved; --pack-sizes adds the cost per line \
            for generated packs of those sizes.
            """)

    @Option(help: "Lines in the corpus.")
    var count = 100_000

    @Option(help: "Worker threads for the parallel run (default: one per core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed repetitions in process; the best is reported.")
    var repeats = 3

    @OptionGroup var rules: RuleOptions

    @Flag(help: "Also run `promptgate filter` end to end against the Python baselines (needs python3).")
    var baseline = false

    @Option(help: "Rounds of the end-to-end runs, interleaved; the median is reported.")
    var rounds = 3

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("Also measure generated packs of these sizes (e.g. 10 100 1000 10000).", valueName: "n"))
    var packSizes: [Int] = []

    @Option(
        help: ArgumentHelp(
            "Write the corpus (corpus.jsonl), the small pack (small-pack.yaml), its terms (terms.txt) and the --pack-sizes packs (pack-N.yaml, terms-N.txt) to this folder and stop.",
            valueName: "folder"))
    var writeCorpus: String?

    func validate() throws {
        guard count > 0, threads > 0, repeats > 0, rounds > 0 else {
            throw ValidationError("--count, --threads, --repeats and --rounds must be positive")
        }
        if let bad = packSizes.first(where: { $0 < 1 }) { throw ValidationError("--pack-sizes: \(bad) is not a size") }
    }

    func run() throws {
        let lines = BenchmarkCorpus.jsonLines(count: count)
        if let folder = writeCorpus {
            try Self.writeFiles(lines, to: folder)
            for size in packSizes { try GeneratedPack.write(count: size, to: folder) }
            print(
                "wrote \(folder)/corpus.jsonl (\(lines.count) lines), small-pack.yaml, terms.txt"
                    + packSizes.map { ", pack-\($0).yaml, terms-\($0).txt" }.joined())
            return
        }
        let bytes = lines.reduce(0) { $0 + $1.utf8.count + 1 }
        print("corpus: \(lines.count) JSONL lines, \(Self.fixed(Double(bytes) / Double(lines.count), 1)) bytes average")
        try inProcess(lines)
        guard baseline || !packSizes.isEmpty else { return }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("promptgate-bench-\(getpid())").path
        try Self.writeFiles(lines, to: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let runner = EndToEnd(folder: folder, lines: lines.count, rounds: rounds)
        if baseline { try runner.compare() }
        if !packSizes.isEmpty { try runner.packCurve(packSizes) }
    }

    // MARK: - In process

    func inProcess(_ lines: [String]) throws {
        let setupStart = ContinuousClock.now
        let ruleSet = try RuleSet.load(paths: rules.paths)
        let pipeline = try PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths)).build()
        _ = try pipeline.run(PromptRequest(prompt: "warm up 预热"))
        print(
            "setup (tables, rule compilation): \(Self.fixed(Self.seconds(ContinuousClock.now - setupStart) * 1000, 1)) ms"
        )
        let raw = lines.map { ArraySlice($0.utf8) }
        var best: [String: Double] = [:]
        var blocked = 0
        for _ in 0..<repeats {
            var requests: [PromptRequest] = []
            requests.reserveCapacity(raw.count)
            let decode = Self.threadCPU {
                for (index, line) in raw.enumerated() {
                    if case .success(let request) = InputLine.parse(line, line: index + 1, format: .jsonl) {
                        requests.append(request)
                    }
                }
            }
            // Views are built and dropped line by line (keeping 100,000 texts' views would time the allocator);
            // matching is the difference between building and scanning, and building alone.
            let views = Self.threadCPU {
                for request in requests { NormalizedText(request.prompt).prepareViews() }
            }
            var hits = 0
            let viewsAndMatch = Self.threadCPU {
                for request in requests where !ruleSet.scan(NormalizedText(request.prompt), field: .prompt).hits.isEmpty
                {
                    hits += 1
                }
            }
            let match = max(0, viewsAndMatch - views)
            let policy = Self.threadCPU {
                for request in requests {
                    let context = PromptContext(request: request)
                    context.recordsNotes = false
                    try? pipeline.run(context)
                }
            }
            // The records to encode, made outside the timing (contexts hold their views; records do not).
            var records: [VerdictRecord] = []
            records.reserveCapacity(requests.count)
            for (index, request) in requests.enumerated() {
                let context = PromptContext(request: request)
                context.recordsNotes = false
                try? pipeline.run(context)
                records.append(VerdictRecord(line: index + 1, context: context, includeTrace: false))
            }
            var written = 0
            let encode = Self.threadCPU {
                for record in records { written += (try? JSONWriter.encode(record).count) ?? 0 }
            }
            blocked = records.reduce(0) { $0 + ($1.decision == "block" ? 1 : 0) }
            for (stage, seconds) in [
                ("decode", decode), ("views", views), ("match", match), ("policy", policy), ("encode", encode),
            ] {
                best[stage] = min(best[stage] ?? .infinity, seconds)
            }
            precondition(hits <= requests.count && written > 0)
        }
        let perLine = { (stage: String) in (best[stage] ?? 0) / Double(lines.count) * 1e6 }
        print(
            "CPU µs a line, one thread (best of \(repeats)): decode \(Self.fixed(perLine("decode"))), "
                + "views \(Self.fixed(perLine("views"))), match \(Self.fixed(perLine("match"))), "
                + "policy pipeline (views + match + length) \(Self.fixed(perLine("policy"))), "
                + "encode \(Self.fixed(perLine("encode"))); "
                + "a line end to end: \(Self.fixed(perLine("decode") + perLine("policy") + perLine("encode")))")
        let prompts = lines.compactMap { line -> String? in
            guard case .success(let request) = InputLine.parse(ArraySlice(line.utf8), line: 0, format: .jsonl)
            else { return nil }
            return request.prompt
        }
        for threadCount in Set([1, threads]).sorted() {
            var fastest = Double.infinity
            for _ in 0..<repeats { fastest = min(fastest, Self.measure(pipeline, prompts, threads: threadCount)) }
            print(
                "policy, threads \(threadCount): \(Int(Double(prompts.count) / fastest)) prompts/s (wall, best of \(repeats))"
            )
        }
        print("blocked: \(blocked) of \(lines.count) (\(Self.fixed(100 * Double(blocked) / Double(lines.count), 1))%)")
    }

    static func measure(_ pipeline: Pipeline, _ corpus: [String], threads: Int) -> Double {
        let start = ContinuousClock.now
        let per = (corpus.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for index in (worker * per)..<min(corpus.count, (worker + 1) * per) {
                let context = PromptContext(request: PromptRequest(prompt: corpus[index]))
                context.recordsNotes = false  // as `promptgate filter` without --trace
                try? pipeline.run(context)
            }
        }
        return seconds(ContinuousClock.now - start)
    }

    /// CPU seconds this thread spent in `body`.
    static func threadCPU(_ body: () throws -> Void) rethrows -> Double {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        try body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func fixed(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

    static func writeFiles(_ lines: [String], to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: folder + "/corpus.jsonl", atomically: true, encoding: .utf8)
        try BenchmarkCorpus.smallPack.write(toFile: folder + "/small-pack.yaml", atomically: true, encoding: .utf8)
        let terms = BenchmarkCorpus.smallPackTerms.flatMap(\.terms)
        try (terms.joined(separator: "\n") + "\n").write(
            toFile: folder + "/terms.txt", atomically: true, encoding: .utf8)
    }
}
