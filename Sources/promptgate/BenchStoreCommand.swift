import ArgumentParser
import Foundation
import Glibc
import Logging
import PromptGateCore
import PromptGateDispatch

struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store",
        abstract:
            "Measure durable submits, task reads, memory and restart against queue depth (build with -c release).",
        discussion: """
            For each depth (--depths) a fresh SQLite store in a temporary folder (synchronous normal, as shipped) is \
            filled to that many queued tasks, then --submits more are submitted by --clients concurrent callers, each \
            committed before it returns; the baseline is the same run against the in-memory store (no durability). \
            Then: GET /task's work (the stored task and its queue position) for random queued tasks, resident memory, \
            and a restart (reopen the store, rebuild the queue) at the deepest depth. Tasks are shaped like real \
            ones: 100–300 byte prompts, a negative prompt, LoRAs, every parameter; the result cache is on (memory, the default) \
            and misses. No backend runs anything.
            """)

    @Option(help: "Queue depths to measure at (comma-separated).")
    var depths = "0,10000,100000"

    @Option(help: "Submits measured at each depth.")
    var submits = 5000

    @Option(help: "Concurrent submitters.")
    var clients = 16

    @Option(help: "Task reads measured at the deepest depth.")
    var reads = 5000

    func run() async throws {
        let levels = depths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 0 }), submits > 0, clients > 0, reads > 0 else {
            throw ValidationError("--depths must list non-negative integers; counts must be positive")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("promptgate-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        print("durable submits (\(clients) concurrent; CPU s = user + system of this process)")
        var deepest: (path: String, ids: [String])?
        for depth in levels {
            for durable in [false, true] {
                let path = folder.appendingPathComponent("depth-\(depth).sqlite").path
                let store: any TaskStore = durable ? try SQLiteTaskStore(path: path) : InMemoryTaskStore()
                let dispatcher = try makeDispatcher(store: store, capacity: depth + submits + 1, folder: folder)
                var ids: [String] = []
                ids.reserveCapacity(depth)
                // Fill in batches of concurrent submits (not measured).
                for start in stride(from: 0, to: depth, by: 1000) {
                    ids += try await submitAll(dispatcher, count: min(1000, depth - start), offset: start)
                }
                let cpu = Self.cpuSeconds(), clock = ContinuousClock.now
                ids += try await submitAll(dispatcher, count: submits, offset: depth)
                let wall = (ContinuousClock.now - clock).seconds, used = Self.cpuSeconds() - cpu
                print(
                    String(
                        format:
                            "  %-9@ at %7d queued: %6.0f tasks/s  (%d in %.2f s wall, %.2f s CPU, %.0f µs CPU each)",
                        durable ? "sqlite" : "memory", depth, Double(submits) / wall, submits, wall, used,
                        used / Double(submits) * 1e6))
                if durable, depth == levels.max() {
                    try await measureReads(dispatcher, ids: ids)
                    print(String(format: "  resident memory with %d queued: %.0f MB", ids.count, Self.residentMB()))
                    deepest = (path, ids)
                }
            }
        }
        if let deepest { try await measureRestart(path: deepest.path, count: deepest.ids.count, folder: folder) }
    }

    func makeDispatcher(store: any TaskStore, capacity: Int, folder: URL) throws -> Dispatcher {
        var settings = DispatchSettings()
        settings.maxQueueSize = capacity
        settings.outputDirectory = folder.appendingPathComponent("output").path
        let bundled = BundledWorkflows.named(BundledWorkflows.defaultName)!
        let workflow = try Workflow(json: bundled.data)
        return try Dispatcher(
            settings: settings, workflow: workflow, binding: try WorkflowBinding(inferringFrom: workflow),
            workflowName: bundled.name, targets: [], store: store, cache: MemoryResultCache(), logger: Self.quiet)
    }

    func submitAll(_ dispatcher: Dispatcher, count: Int, offset: Int) async throws -> [String] {
        try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var ids: [String] = []
                    for index in stride(from: client, to: count, by: clients) {
                        let task = Self.task(offset + index)
                        ids.append(try await dispatcher.submit(task).task.id)
                    }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    func measureReads(_ dispatcher: Dispatcher, ids: [String]) async throws {
        var latencies: [Double] = []
        let cpu = Self.cpuSeconds(), clock = ContinuousClock.now
        for _ in 0..<reads {
            let start = ContinuousClock.now
            guard let view = await dispatcher.view(id: ids.randomElement()!), view.position != nil else {
                throw ValidationError("a queued task was not found")
            }
            latencies.append((ContinuousClock.now - start).seconds * 1000)
        }
        let wall = (ContinuousClock.now - clock).seconds, used = Self.cpuSeconds() - cpu
        latencies.sort()
        print(
            String(
                format:
                    "task reads (stored task + queue position) at %d queued: p50 %.3f ms, p99 %.3f ms (%d in %.2f s wall, %.2f s CPU)",
                ids.count, latencies[latencies.count / 2], latencies[latencies.count * 99 / 100], reads, wall, used))
    }

    func measureRestart(path: String, count: Int, folder: URL) async throws {
        let cpu = Self.cpuSeconds(), clock = ContinuousClock.now
        let store = try SQLiteTaskStore(path: path)
        let dispatcher = try makeDispatcher(store: store, capacity: count + 1, folder: folder)
        let running = Task { await dispatcher.run() }
        while dispatcher.snapshot.queued.values.reduce(0, +) < count {
            try await Task.sleep(for: .milliseconds(1))
        }
        let wall = (ContinuousClock.now - clock).seconds, used = Self.cpuSeconds() - cpu
        running.cancel()
        _ = await running.value
        print(
            String(
                format: "restart with %d queued: ready (store open, queue rebuilt) in %.2f s wall, %.2f s CPU", count,
                wall, used))
    }

    static let quiet: Logger = {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        return logger
    }()

    private static let words = [
        "studio", "product", "shot", "of", "a", "leather", "handbag", "on", "marble", "soft", "light", "红色", "连衣裙",
        "白色背景", "ceramic", "mug", "steam", "morning", "window", "minimalist", "sneakers", "glossy", "reflection",
        "商品", "高清", "wooden", "table", "linen", "backdrop", "golden", "hour",
    ]

    /// A task shaped like real traffic: 100–300 bytes of mixed English and Chinese, every parameter, two LoRAs.
    static func task(_ index: Int) -> GenerationTask {
        var prompt = "sku \(index):"
        let target = 100 + (index * 37) % 200
        var word = UInt(index)
        while prompt.utf8.count < target {
            prompt += " " + words[Int(word % UInt(words.count))]
            word = word &* 31 &+ 7
        }
        var request = PromptRequest(prompt: prompt)
        request.negativePrompt = "blurry, low quality, watermark, text, deformed hands"
        request.width = 1024
        request.height = 1024
        request.steps = 20
        request.cfgScale = 3.5
        request.seed = UInt64(truncatingIfNeeded: index &* 2_654_435_761)
        request.sampler = "euler"
        request.scheduler = "simple"
        request.loras = [.init(name: "ghibsky", weight: 0.8), .init(name: "turbo", weight: 1.0)]
        request.preset = "default"
        var task = GenerationTask(request: request, priority: [.normal, .high, .low][index % 3])
        task.loras = [.init(file: "ghibsky.safetensors", weight: 0.8), .init(file: "turbo.safetensors", weight: 1)]
        task.caller = "shop-\(index % 4)"
        task.model = "nunchaku-flux.1-dev"
        return task
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Resident set size in MB (`VmRSS` of /proc/self/status).
    static func residentMB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }
}
