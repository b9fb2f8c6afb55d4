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
        abstract: "Measure the dispatcher against in-process ComfySims (build with -c release).",
        discussion: """
            1. Overhead: the generate round trip through PromptGate (POST /api/v1/generate, poll the task, GET the \
            image) against the same round trip straight to the same simulator (POST /prompt, poll /history, GET \
            /view), interleaved one for one, both clients polling every --poll-ms; the simulator runs each prompt \
            for --run-ms on its worker thread, as ComfyUI does a fast graph. Medians, p90 and the difference. \
            2. Throughput: --tasks submitted by --clients concurrent clients through the queue to --backends \
            simulators with zero run time, until every task has completed.
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

    @Option(help: "How long the simulator runs each prompt in the overhead measurement, in milliseconds.")
    var runMs = 5.0

    @Flag(
        inversion: .prefixedNo,
        help:
            "Let the dispatcher listen on the simulators' WebSocket (comfyui.websocket); --no-websocket polls /history only."
    )
    var websocket = true

    func validate() throws {
        guard roundTrips > 0, tasks > 0, backends > 0, clients > 0, pollMs > 0, runMs >= 0 else {
            throw ValidationError("every count and --poll-ms must be positive, --run-ms not negative")
        }
    }

    func run() async throws {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "promptgate-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let overheadSim = ComfySim(runTime: .microseconds(Int64(runMs * 1000)))
        let sims = [overheadSim] + (0..<max(1, backends)).map { _ in ComfySim(runTime: .zero) }
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
            // 1. Overhead, against one simulator, direct and through interleaved.
            let (direct, through) = try await withGate(
                backends: [urls[0]], output: output.path + "/a", pool: pool, group: &group
            ) { base, _ in
                try await interleavedRoundTrips(sim: urls[0], gate: base, pool: pool)
            }
            let medianDirect = Self.median(direct), medianThrough = Self.median(through)
            let p90Direct = Self.percentile(direct, 0.9), p90Through = Self.percentile(through, 0.9)
            print(
                String(
                    format:
                        "round trip (%.1f ms run, %.1f ms polls), %d each, interleaved: direct median %.2f ms (p90 %.2f), through PromptGate median %.2f ms (p90 %.2f): overhead median %.2f ms, p90 %.2f ms",
                    runMs, pollMs, roundTrips, medianDirect, p90Direct, medianThrough, p90Through,
                    medianThrough - medianDirect, p90Through - p90Direct))
            // 2. Throughput, through the queue to every zero-time simulator.
            let throughputURLs = Array(urls.dropFirst())
            let (seconds, completed) = try await withGate(
                backends: throughputURLs, output: output.path + "/b", pool: pool, group: &group
            ) { base, server in
                try await throughput(base: base, server: server, pool: pool)
            }
            print(
                String(
                    format: "throughput: %d tasks through %d simulators in %.2f s = %.0f tasks/s (%d completed)",
                    tasks, throughputURLs.count, seconds, Double(tasks) / seconds, completed))
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
        config.dispatch.storePath = output + "/promptgate.sqlite"  // never the working folder's database
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

    /// `roundTrips` of each, alternating which goes first, after 10 warm-up pairs.
    func interleavedRoundTrips(sim: String, gate: String, pool: NIOThreadPool) async throws -> ([Double], [Double]) {
        let comfy = ComfyUIClient(transport: CurlTransport(baseURL: sim, threadPool: pool), clientID: "bench")
        let gateway = CurlTransport(baseURL: gate, threadPool: pool)
        guard let bundled = BundledWorkflows.named(BundledWorkflows.defaultName) else {
            throw ValidationError("no bundled workflow")
        }
        let workflow = try Workflow(json: bundled.data)
        let binding = try WorkflowBinding(inferringFrom: workflow)
        var direct: [Double] = [], through: [Double] = []
        var steps: [[Double]] = []
        for index in 0..<(roundTrips + 10) {
            for side in index.isMultiple(of: 2) ? [0, 1] : [1, 0] {
                let start = ContinuousClock.now
                if side == 0 {
                    try await directRoundTrip(comfy, workflow: workflow, binding: binding, seed: index)
                } else {
                    let split = try await gateRoundTrip(gateway, seed: index)
                    if index >= 10 { steps.append(split) }
                }
                guard index >= 10 else { continue }
                let elapsed = Self.milliseconds(ContinuousClock.now - start)
                if side == 0 { direct.append(elapsed) } else { through.append(elapsed) }
            }
        }
        let names = [
            "generate answered", "answer to the attempt's start", "the attempt (prompt to images stored)",
            "stored to seen by the client", "image fetched",
        ]
        let medians = names.indices.map { step in Self.median(steps.map { $0[step] }) }
        print(
            "through PromptGate, median per step (ms): "
                + zip(names, medians).map { String(format: "%@ %.2f", $0, $1) }.joined(separator: ", "))
        return (direct, through)
    }

    /// POST /prompt, poll /history every --poll-ms, GET /view every output.
    func directRoundTrip(_ client: ComfyUIClient, workflow: Workflow, binding: WorkflowBinding, seed: Int)
        async throws
    {
        let id = UUID().uuidString.lowercased()
        var request = PromptRequest(prompt: "a red fox in the snow, high quality")
        request.seed = UInt64(seed)
        try await client.queue(
            WorkflowPatcher.apply(request, loras: [], taskID: id, to: workflow, binding: binding), promptID: id)
        var history: ComfyUIHistory? = nil
        while history == nil {
            try await Task.sleep(for: .milliseconds(pollMs))
            history = try await client.history(promptID: id)
        }
        for output in history?.outputs ?? [] { _ = try await client.view(output) }
    }

    /// POST /api/v1/generate, poll the task every --poll-ms, GET every image. Returns the time of each step
    /// (ms): the generate answer, answer → attempt start, the attempt (start → finished, from the task's own
    /// times), finished → seen by the client, the image fetch.
    func gateRoundTrip(_ transport: CurlTransport, seed: Int) async throws -> [Double] {
        let began = Date()
        let id = try await submit(transport, seed: seed)
        let answered = Date()
        var started = answered, finished = answered
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
            // A value-type format style parsed once per round trip: building an ISO8601DateFormatter here cost the
            // "through" side ~0.5 ms that the direct side does not pay.
            let time = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
            if case .array(let attempts)? = object["attempts"], case .object(let last)? = attempts.last,
                case .string(let start)? = last["started_at"], case .string(let end)? = last["ended_at"]
            {
                started = (try? time.parse(start)) ?? answered
                finished = (try? time.parse(end)) ?? answered
            }
            break
        }
        let seen = Date()
        for file in images { _ = try await transport.send("GET", "/output/\(file)") }
        let fetched = Date()
        return [
            answered.timeIntervalSince(began), started.timeIntervalSince(answered), finished.timeIntervalSince(started),
            seen.timeIntervalSince(finished), fetched.timeIntervalSince(seen),
        ].map { $0 * 1000 }
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
                let range = min(tasks, client * share)..<min(tasks, (client + 1) * share)
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
