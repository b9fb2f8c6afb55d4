import ArgumentParser
import ComfySim
import Foundation
import Hummingbird
import Logging
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import PromptGateServer
import ServiceLifecycle

struct BenchDispatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-dispatch",
        abstract: "Measure the dispatcher against in-process ComfySims with zero run time (build with -c release).",
        discussion: """
            1. Overhead: the median generate round trip through PromptGate (POST /api/v1/generate, poll the task, GET \
            the image) minus the same round trip straight to the simulator (POST /prompt, poll /history, GET /view); \
            both clients poll every --poll-ms. 2. Throughput: --tasks submitted by --clients concurrent clients \
            through the queue to --backends simulators, until every task has completed.
            """)

    @Option(help: "Sequential round trips per side for the overhead measurement.")
    var roundTrips = 200

    @Option(help: "Tasks for the throughput measurement.")
    var tasks = 3000

    @Option(help: "Simulators behind the server for the throughput measurement.")
    var backends = 4

    @Option(help: "Concurrent submitting clients.")
    var clients = 16

    @Option(help: "Client poll interval in milliseconds (both sides).")
    var pollMs = 1.0

    @Flag(
        inversion: .prefixedNo,
        help:
            "Let the dispatcher listen on the simulators' WebSocket (comfyui.websocket); --no-websocket polls /history only."
    )
    var websocket = true

    func validate() throws {
        guard roundTrips > 0, tasks > 0, backends > 0, clients > 0, pollMs > 0 else {
            throw ValidationError("every count and --poll-ms must be positive")
        }
    }

    func run() async throws {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "promptgate-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let sims = (0..<max(1, backends)).map { _ in ComfySim(runTime: .zero) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var urls: [String] = []
            for sim in sims {
                let (ports, continuation) = AsyncStream<Int>.makeStream()
                let app = sim.makeApplication(
                    port: 0, logger: Self.quiet, onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
                group.addTask { try await app.run() }
                var iterator = ports.makeAsyncIterator()
                urls.append("http://127.0.0.1:\(await iterator.next() ?? 0)")
            }
            // 1. Overhead, against one simulator.
            let direct = try await directRoundTrips(sim: urls[0], pool: pool)
            let through = try await withGate(backends: [urls[0]], output: output.path + "/a", pool: pool, group: &group)
            { base, _ in
                try await gateRoundTrips(base: base, pool: pool)
            }
            let medianDirect = Self.median(direct), medianThrough = Self.median(through)
            print(
                String(
                    format:
                        "round trip, median of %d: direct %.2f ms, through PromptGate %.2f ms, overhead %.2f ms (p90 %.2f vs %.2f ms)",
                    roundTrips, medianDirect, medianThrough, medianThrough - medianDirect, Self.percentile(direct, 0.9),
                    Self.percentile(through, 0.9)))
            // 2. Throughput, through the queue to every simulator.
            let (seconds, completed) = try await withGate(
                backends: urls, output: output.path + "/b", pool: pool, group: &group
            ) { base, server in
                try await throughput(base: base, server: server, pool: pool)
            }
            print(
                String(
                    format: "throughput: %d tasks through %d simulators in %.2f s = %.0f tasks/s (%d completed)",
                    tasks, urls.count, seconds, Double(tasks) / seconds, completed))
            group.cancelAll()
        }
        try await pool.shutdownGracefully()
    }

    static let quiet: Logger = {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical  // cancelling the servers at the end logs errors that mean nothing here
        return logger
    }()

    /// Runs a PromptGate server (and its dispatcher) over `backends` for `body`.
    func withGate<T>(
        backends: [String], output: String, pool: NIOThreadPool, group: inout ThrowingTaskGroup<Void, any Error>,
        _ body: (String, GateServer) async throws -> T
    ) async throws -> T {
        var config = ServiceConfig()
        config.server.port = 0
        config.dispatch.outputDirectory = output
        config.security.rateLimitEnabled = false
        config.logging.level = .error
        config.dispatch.websocket = websocket
        config.dispatch.maxConcurrent = 64
        config.dispatch.maxQueueSize = tasks + 100
        config.dispatch.backends = backends.enumerated().map {
            BackendPool.Backend(name: "sim\($0.offset)", url: $0.element, maxInFlight: 16)
        }
        let server = try GateServer(config: config, logger: Self.quiet)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = server.makeApplication(onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
        let serving = Task { try await app.run() }
        let dispatching = Task { try await DispatchService(setup: server.dispatch).run() }
        defer {
            serving.cancel()
            dispatching.cancel()
        }
        var iterator = ports.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next() ?? 0)"
        let deadline = ContinuousClock.now + .seconds(10)
        while !server.dispatch.dispatcher.pool.snapshot.allSatisfy({ $0.state.label == "up" }) {
            guard ContinuousClock.now < deadline else { throw ValidationError("the simulators never became ready") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let result = try await body(base, server)
        serving.cancel()
        dispatching.cancel()
        _ = await serving.result
        _ = await dispatching.result
        return result
    }

    func directRoundTrips(sim: String, pool: NIOThreadPool) async throws -> [Double] {
        let transport = CurlTransport(baseURL: sim, threadPool: pool)
        let client = ComfyUIClient(transport: transport, clientID: "bench")
        guard let bundled = BundledWorkflows.named(BundledWorkflows.defaultName) else {
            throw ValidationError("no bundled workflow")
        }
        let workflow = try Workflow(json: bundled.data)
        let binding = try WorkflowBinding(inferringFrom: workflow)
        var times: [Double] = []
        for index in 0..<(roundTrips + 10) {
            let start = ContinuousClock.now
            let id = UUID().uuidString.lowercased()
            var request = PromptRequest(prompt: "a red fox in the snow, high quality")
            request.seed = UInt32(index)
            try await client.queue(
                WorkflowPatcher.apply(request, loras: [], taskID: id, to: workflow, binding: binding), promptID: id)
            var history: ComfyUIHistory? = nil
            while history == nil {
                try await Task.sleep(for: .milliseconds(pollMs))
                history = try await client.history(promptID: id)
            }
            for output in history?.outputs ?? [] { _ = try await client.view(output) }
            if index >= 10 { times.append(Self.milliseconds(ContinuousClock.now - start)) }  // 10 warm-up runs
        }
        return times
    }

    func gateRoundTrips(base: String, pool: NIOThreadPool) async throws -> [Double] {
        let transport = CurlTransport(baseURL: base, threadPool: pool)
        var times: [Double] = []
        for index in 0..<(roundTrips + 10) {
            let start = ContinuousClock.now
            let id = try await submit(transport, seed: index)
            var images: [String] = []
            while true {
                try await Task.sleep(for: .milliseconds(pollMs))
                let task = try await transport.send("GET", "/api/v1/task/\(id)")
                guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(task.body)) else {
                    continue
                }
                guard object["status"] == "completed" else {
                    if object["status"] != "queued" && object["status"] != "running" {
                        throw ValidationError("task \(id) ended \(object)")
                    }
                    continue
                }
                if case .object(let result)? = object["result"], case .array(let list)? = result["images"] {
                    for case .object(let image) in list {
                        if case .string(let file)? = image["filename"] { images.append(file) }
                    }
                }
                break
            }
            for file in images { _ = try await transport.send("GET", "/output/\(file)") }
            if index >= 10 { times.append(Self.milliseconds(ContinuousClock.now - start)) }
        }
        return times
    }

    func submit(_ transport: CurlTransport, seed: Int) async throws -> String {
        let body = Array(#"{"prompt": "a red fox in the snow", "seed": \#(seed)}"#.utf8)
        let answer = try await transport.send("POST", "/api/v1/generate", body: body)
        guard answer.status == 202,
            case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(answer.body)),
            case .string(let id)? = object["task_id"]
        else {
            throw ValidationError("generate answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
        return id
    }

    func throughput(base: String, server: GateServer, pool: NIOThreadPool) async throws -> (Double, Int) {
        let transport = CurlTransport(baseURL: base, threadPool: pool)
        let start = ContinuousClock.now
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            let share = (tasks + clients - 1) / clients
            for client in 0..<clients {
                let range = (client * share)..<min(tasks, (client + 1) * share)
                group.addTask {
                    var ids: [String] = []; for seed in range { ids.append(try await submit(transport, seed: seed)) };
                    return ids
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        let dispatcher = server.dispatch.dispatcher
        let deadline = ContinuousClock.now + .seconds(300)
        func statuses() async -> [TaskStatus?] {
            var statuses: [TaskStatus?] = []
            for id in ids { statuses.append(await dispatcher.view(id: id)?.task.status) }
            return statuses
        }
        while await statuses().contains(where: { $0?.isTerminal != true }) {
            guard ContinuousClock.now < deadline else { throw ValidationError("tasks did not finish within 300 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let seconds = Self.milliseconds(ContinuousClock.now - start) / 1000
        return (seconds, await statuses().filter { $0 == .completed }.count)
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }
}
