import ArgumentParser
import Dispatch
import Foundation
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

    func validate() throws {
        guard count > 0, threads > 0, repeats > 0 else { throw ValidationError("--count, --threads and --repeats must be positive") }
    }

    func run() throws {
        let setupStart = ContinuousClock.now
        let pipeline = try PipelineBuilder(config: PolicyConfig(rulePaths: rules.paths)).build()
        _ = try pipeline.run(PromptRequest(prompt: "warm up 预热"))
        let setup = ContinuousClock.now - setupStart
        let corpus = BenchCorpus.generate(count: count)
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        print("corpus: \(corpus.count) prompts, \(String(format: "%.1f", Double(bytes) / Double(corpus.count))) bytes average")
        print("setup (tables, rule compilation): \(Self.format(setup))")
        var blocked = 0
        for threadCount in Set([1, threads]).sorted() {
            var best = Duration.seconds(1_000_000)
            for _ in 0..<repeats {
                let (elapsed, blockedCount) = try Self.measure(pipeline, corpus, threads: threadCount)
                best = min(best, elapsed)
                blocked = blockedCount
            }
            let seconds = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
            let rate = Double(corpus.count) / seconds
            print(
                "threads \(threadCount): \(Int(rate)) prompts/s, \(String(format: "%.2f", 1e6 / rate * Double(threadCount))) µs/prompt per thread, "
                    + "\(String(format: "%.1f", Double(bytes) / seconds / 1e6)) MB/s (best of \(repeats))")
        }
        print("blocked: \(blocked) of \(corpus.count) (\(String(format: "%.1f", 100 * Double(blocked) / Double(corpus.count)))%)")
    }

    static func measure(_ pipeline: Pipeline, _ corpus: [String], threads: Int) throws -> (Duration, Int) {
        let blocked = Counter(threads)
        let start = ContinuousClock.now
        let per = (corpus.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var count = 0
            for index in (worker * per)..<min(corpus.count, (worker + 1) * per) {
                let context = PromptContext(request: PromptRequest(prompt: corpus[index]))
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

/// A deterministic corpus of ~150-byte prompts: mostly ordinary English, some Chinese, some evasions,
/// a few percent that hit the default packs.
enum BenchCorpus {
    static func generate(count: Int, seed: UInt64 = 0x5EED) -> [String] {
        var rng = SplitMix64(seed: seed)
        let subjects = [
            "a portrait of an old fisherman", "a red fox in a snowy forest", "a futuristic city skyline at night",
            "a bowl of ramen with steam rising", "a vintage car parked by the sea", "a girl reading under a tree",
            "an astronaut riding a horse", "a cozy cabin in the mountains", "a cyberpunk street market",
            "a watercolor of a lighthouse", "product photo of wireless earbuds", "a model wearing a linen dress",
        ]
        let details = [
            "golden hour lighting", "highly detailed", "cinematic composition", "soft bokeh background",
            "8k resolution", "trending on artstation", "dramatic clouds", "studio lighting", "shallow depth of field",
            "(masterpiece:1.2)", "[vivid colors]", "octane render", "35mm film grain", "ultra sharp focus",
        ]
        let chinese = ["一只可爱的小猫在窗台上晒太阳，高清，细节丰富", "夕阳下的古镇街道，水彩风格", "未来城市的夜景，赛博朋克风格，霓虹灯"]
        let hits = ["blood everywhere", "a nude figure", "m.u.r.d.e.r scene", "p0rn poster", "血腥的场面", "色 情 图片", "k i l l them"]
        let tricks = ["\u{200B}", "\u{00AD}", "ｆｕｌｌ ｗｉｄｔｈ", "Сyrillic", "café\u{301}"]
        var corpus: [String] = []
        corpus.reserveCapacity(count)
        for _ in 0..<count {
            let roll = rng.next() % 100
            var prompt: String
            if roll < 15 {
                prompt = chinese[Int(rng.next() % UInt64(chinese.count))] + "，" + details[Int(rng.next() % UInt64(details.count))]
            } else {
                prompt = subjects[Int(rng.next() % UInt64(subjects.count))]
            }
            while prompt.utf8.count < 130 {
                prompt += ", " + details[Int(rng.next() % UInt64(details.count))]
            }
            if roll >= 95 { prompt += ", " + hits[Int(rng.next() % UInt64(hits.count))] }
            if roll >= 85 && roll < 95 { prompt += " " + tricks[Int(rng.next() % UInt64(tricks.count))] }
            corpus.append(prompt)
        }
        return corpus
    }
}

/// A small, fast, seedable generator (Vigna's SplitMix64) so the corpus is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
