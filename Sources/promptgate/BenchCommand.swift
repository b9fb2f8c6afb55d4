import ArgumentParser
import Dispatch
import Foundation
import PromptGateBench
import PromptGateCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure policy throughput on a generated corpus (build with -c release for real numbers).")

    @Option(help: "Number of prompts in the corpus.")
    var count = 100_000

    @Option(help: "Worker threads for the parallel run (default: one per core).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed repetitions; the best is reported.")
    var repeats = 3

    @OptionGroup var rules: RuleOptions

    @Option(
        help: ArgumentHelp(
            "Also measure policy plus this preset's optimizers, and report what they add.", valueName: "name"))
    var preset: String?

    @Flag(help: "With --preset, measure only policy plus optimizers (for profiling).")
    var presetOnly = false

    func validate() throws {
        guard count > 0, threads > 0, repeats > 0 else {
            throw ValidationError("--count, --threads and --repeats must be positive")
        }
    }

    func run() throws {
        let setupStart = ContinuousClock.now
        let builder = PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths))
        let pipeline = try builder.build()
        _ = try pipeline.run(PromptRequest(prompt: "warm up 预热"))
        var optimized: Pipeline? = nil
        if let preset {
            let set = try builder.build(presets: try PresetLoader.load(), defaultPreset: preset)
            optimized = try set.pipeline(for: PromptRequest(prompt: ""))
            _ = try optimized?.run(PromptRequest(prompt: "warm up 预热"))
        }
        let setup = ContinuousClock.now - setupStart
        let corpus = BenchmarkCorpus.generate(count: count)
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        print(
            "corpus: \(corpus.count) prompts, \(String(format: "%.1f", Double(bytes) / Double(corpus.count))) bytes average"
        )
        print("setup (tables, rule compilation): \(Self.format(setup))")
        var blocked = 0
        var perThread: [String: Double] = [:]
        let runs =
            (presetOnly && optimized != nil ? [] : [("policy", pipeline)])
            + (optimized.map { [("policy+\(preset ?? "")", $0)] } ?? [])
        for (label, measured) in runs {
            for threadCount in Set([1, threads]).sorted() {
                var best = Duration.seconds(1_000_000)
                for _ in 0..<repeats {
                    let (elapsed, blockedCount) = try Self.measure(measured, corpus, threads: threadCount)
                    best = min(best, elapsed)
                    blocked = blockedCount
                }
                let seconds = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
                let rate = Double(corpus.count) / seconds
                let micros = 1e6 / rate * Double(threadCount)
                if threadCount == 1 { perThread[label] = micros }
                print(
                    "\(label), threads \(threadCount): \(Int(rate)) prompts/s, \(String(format: "%.2f", micros)) µs/prompt per thread, "
                        + "\(String(format: "%.1f", Double(bytes) / seconds / 1e6)) MB/s (best of \(repeats))")
            }
        }
        if let preset, let base = perThread["policy"], let full = perThread["policy+\(preset)"] {
            print("optimizers (\(preset)) add \(String(format: "%.2f", full - base)) µs/prompt on one thread")
        }
        if let optimized {
            // Per-stage self time from the pipeline's own trace, one thread, averaged over the corpus.
            var totals: [String: Int64] = [:]
            var order: [String] = []
            for prompt in corpus {
                let context = PromptContext(request: PromptRequest(prompt: prompt))
                try? optimized.run(context)
                for entry in context.trace {
                    if totals[entry.stage] == nil { order.append(entry.stage) }
                    totals[entry.stage, default: 0] += entry.nanoseconds
                }
            }
            let line = order.map {
                "\($0) \(String(format: "%.2f", Double(totals[$0]!) / Double(corpus.count) / 1000))"
            }
            print("per stage (µs/prompt, from the trace): " + line.joined(separator: ", "))
        }
        print(
            "blocked: \(blocked) of \(corpus.count) (\(String(format: "%.1f", 100 * Double(blocked) / Double(corpus.count)))%)"
        )
    }

    static func measure(_ pipeline: Pipeline, _ corpus: [String], threads: Int) throws -> (Duration, Int) {
        let blocked = Counter(threads)
        let start = ContinuousClock.now
        let per = (corpus.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var count = 0
            for index in (worker * per)..<min(corpus.count, (worker + 1) * per) {
                let context = PromptContext(request: PromptRequest(prompt: corpus[index]))
                context.recordsNotes = false  // as `promptgate filter` without --trace
                try? pipeline.run(context)
                if context.verdict.isBlocked { count += 1 }
            }
            blocked.set(worker, count)
        }
        return (ContinuousClock.now - start, blocked.total)
    }

    static func format(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(format: "%.1f ms", ms)
    }
}

/// Per-worker counters, each slot written by one worker.
private final class Counter: @unchecked Sendable {
    // Safe: slot i is written only by worker i; `total` is read after all workers finished.
    private let slots: UnsafeMutableBufferPointer<Int>
    init(_ count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: 0)
    }
    deinit { slots.deallocate() }
    func set(_ index: Int, _ value: Int) { slots[index] = value }
    var total: Int { slots.reduce(0, +) }
}
