import ComfySim
import Foundation
import Hummingbird
import HummingbirdWSClient
import Logging
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import PromptGateTestSupport
import Synchronization
import Testing

/// Runs ComfySim on 127.0.0.1 and an ephemeral port for `body`.
func withComfySim(_ sim: ComfySim = ComfySim(), _ body: (ComfyUIClient) async throws -> Void) async throws {
    try await withLoopbackComfyUI(sim.makeRouter()) { client, _ in try await body(client) }
}

@Suite("Client, binding and ComfySim end to end", .serialized)
struct ComfySimTests {
    func sdWorkflow() throws -> Workflow {
        try Workflow(path: TestSupport.packageRoot.appendingPathComponent("workflows/sd15-lora-txt2img.api.json").path)
    }

    func waitForHistory(_ client: ComfyUIClient, _ id: String) async throws -> ComfyUIHistory? {
        for _ in 0..<500 {
            if let history = try await client.history(promptID: id) { return history }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// While a prompt runs, `/history` knows nothing of it (a run far longer than any wait here, interrupted).
    @Test func historyIsEmptyWhileAPromptRuns() async throws {
        try await withComfySim(ComfySim(runTime: .seconds(120))) { client in
            let workflow = try sdWorkflow()
            let taskID = UUID().uuidString.lowercased()
            let patched = WorkflowPatcher.apply(
                PromptRequest(prompt: "a red fox"), loras: [], taskID: taskID, to: workflow,
                binding: try WorkflowBinding(inferringFrom: workflow))
            try await client.queue(patched, promptID: taskID)
            #expect(try await client.history(promptID: taskID) == nil)
            try await client.interrupt(promptID: taskID)
            let history = try #require(try await waitForHistory(client, taskID))
            #expect(history.outcome == .interrupted)
        }
    }

    @Test func patchedWorkflowRunsAndEveryOutputIsFetched() async throws {
        try await withComfySim(ComfySim(runTime: .milliseconds(100))) { client in
            let workflow = try sdWorkflow()
            #expect(
                WorkflowValidator.problems(
                    workflow, objectInfo: try await client.objectInfo(),
                    requirements: BackendRequirements(loraFiles: ["example_lora.safetensors"])
                ).isEmpty)
            var request = PromptRequest(prompt: "a red fox")
            request.seed = 7
            let taskID = UUID().uuidString.lowercased()
            let patched = WorkflowPatcher.apply(
                request, loras: [.init(file: "example_lora.safetensors", weight: 0.7)], taskID: taskID, to: workflow,
                binding: try WorkflowBinding(inferringFrom: workflow))
            try await client.queue(patched, promptID: taskID)
            let history = try #require(try await waitForHistory(client, taskID))
            #expect(history.outcome == .success)
            let output = try #require(history.outputs.first)
            #expect(output.subfolder == "promptgate" && output.filename == "\(taskID)_00001_.png")
            #expect(try await client.view(output) == ComfySim.png)
            _ = try await client.systemStats()
        }
    }

    @Test func missingModelIsAFinalRejectionWithNodeErrors() async throws {
        try await withComfySim(ComfySim(models: ["ckpt_name": ["other.safetensors"]])) { client in
            let workflow = try sdWorkflow()
            #expect(!WorkflowValidator.problems(workflow, objectInfo: try await client.objectInfo()).isEmpty)
            do {
                try await client.queue(workflow, promptID: "00000000-0000-4000-8000-000000000001")
                Issue.record("accepted a missing checkpoint")
            } catch let error as ComfyUIError {
                guard case .rejected(let type, _, let nodeErrors) = error, case .object(let nodes)? = nodeErrors else {
                    Issue.record("\(error)")
                    return
                }
                #expect(type == "prompt_outputs_failed_validation")
                #expect(nodes["4"] != nil)
            }
        }
    }

    @Test func interruptEndsARunAsInterrupted() async throws {
        try await withComfySim(ComfySim(runTime: .seconds(30))) { client in
            let id = UUID().uuidString.lowercased()
            try await client.queue(try sdWorkflow(), promptID: id)
            // ComfyUI ignores an interrupt for a prompt that is not running yet: repeat until it takes.
            var history: ComfyUIHistory? = nil
            for _ in 0..<100 where history == nil {
                try await client.interrupt(promptID: id)
                try await Task.sleep(for: .milliseconds(50))
                history = try await client.history(promptID: id)
            }
            let ended = try #require(history)
            #expect(ended.outcome == .interrupted)
            #expect(ended.outputs.isEmpty)
        }
    }
}

@Suite("ComfySim WebSocket", .serialized)
struct ComfySimWebSocketTests {
    /// The event types a socket with `clientId` receives while `body` runs, until `executing` with node null.
    func events(_ sim: ComfySim, clientID: String, _ body: @escaping @Sendable (ComfyUIClient) async throws -> Void)
        async throws -> [(String, JSONValue)]
    {
        try await LoopbackSims.with([sim]) { running in
            let url = running.urls[0]
            let received = Mutex<[(String, JSONValue)]>([])
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let client = ComfyUIClient(transport: CurlTransport(baseURL: url, threadPool: pool), clientID: clientID)
            try await WebSocketClient.connect(
                url: url.replacingOccurrences(of: "http://", with: "ws://") + "/ws?clientId=\(clientID)",
                logger: Logger(label: "test")
            ) { inbound, _, _ in
                var sent = false
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message,
                        case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                        case .string(let type)? = object["type"]
                    else { continue }
                    let data = object["data"] ?? .null
                    received.withLock { $0.append((type, data)) }
                    if !sent {  // after the greeting
                        sent = true
                        try await body(client)
                    }
                    if type == "executing", case .object(let fields) = data, fields["node"] == .null { break }
                }
            }
            try await pool.shutdownGracefully()
            return received.withLock { $0 }
        }
    }

    func sdWorkflow() throws -> Workflow {
        try Workflow(path: TestSupport.packageRoot.appendingPathComponent("workflows/sd15-lora-txt2img.api.json").path)
    }

    @Test func eventsComeInComfyUIsOrder() async throws {
        let workflow = try sdWorkflow()
        let id = UUID().uuidString.lowercased()
        let seen = try await events(ComfySim(runTime: .milliseconds(100)), clientID: "ws-test") { client in
            try await client.queue(workflow, promptID: id)
        }
        let types = seen.map(\.0)
        #expect(types.first == "status")
        if case .object(let greeting) = seen[0].1 { #expect(greeting["sid"] == "ws-test") }
        let run = Array(types.dropFirst())
        #expect(Array(run.prefix(2)) == ["execution_start", "execution_cached"])
        #expect(run.filter { $0 == "progress" }.count == 20)  // the KSampler's 20 steps
        let executed = try #require(run.firstIndex(of: "executed"))
        let success = try #require(run.firstIndex(of: "execution_success"))
        #expect(executed < success && run.last == "executing" && run[run.count - 2] == "status")
        #expect(run.lastIndex(of: "progress")! < executed)
        if case .object(let output)? = seen.first(where: { $0.0 == "executed" })?.1 {
            #expect(output["prompt_id"] == .string(id))
        }
        // Nodes run in dependency order: each after every node it takes a link from.
        let order = seen.compactMap { type, data -> String? in
            guard type == "executing", case .object(let fields) = data, case .string(let node)? = fields["node"] else {
                return nil
            }
            return node
        }
        #expect(Set(order) == Set(workflow.nodes.keys))
        for (id, node) in workflow.nodes {
            for case .array(let link) in node.inputs.values {
                guard case .string(let source)? = link.first, let from = order.firstIndex(of: source) else { continue }
                #expect(from < order.firstIndex(of: id)!, "\(source) before \(id) in \(order)")
            }
        }
    }

    @Test func failedRunsSendExecutionErrorThenExecutingNull() async throws {
        let sim = ComfySim(runTime: .milliseconds(10))
        sim.setFaults(SimFaults(executionError: true))
        let workflow = try sdWorkflow()
        let seen = try await events(sim, clientID: "ws-fail") { client in
            try await client.queue(workflow, promptID: UUID().uuidString.lowercased())
        }
        let types = seen.map(\.0)
        #expect(
            types.contains("execution_error") && !types.contains("execution_success") && !types.contains("executed"))
        #expect(types.last == "executing")
    }
}

@Suite("ComfySim faults", .serialized)
struct ComfySimFaultTests {
    @Test func controlEndpointSetsFaultsAndRefusesUnknownOnes() async throws {
        let sim = ComfySim()
        try await LoopbackSims.with([sim]) { running in
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let transport = CurlTransport(baseURL: running.urls[0], threadPool: pool)
            let set = try await transport.send("POST", "/sim/faults", body: Array(#"{"latency_ms": 300}"#.utf8))
            #expect(set.status == 200 && sim.faults.latency == .milliseconds(300))
            let start = ContinuousClock.now
            #expect(try await transport.send("GET", "/system_stats").status == 200)
            #expect(ContinuousClock.now - start >= .milliseconds(300))
            for (body, message) in [
                (#"{"bogus": true}"#, "unknown fault 'bogus'"), (#"{"hang": "yes"}"#, "hang: expected true or false"),
                ("[1]", "JSON object"),
            ] {
                let refused = try await transport.send("POST", "/sim/faults", body: Array(body.utf8))
                #expect(
                    refused.status == 400 && String(decoding: refused.body, as: UTF8.self).contains(message), "\(body)")
            }
            #expect(try await transport.send("POST", "/sim/faults", body: Array("{}".utf8)).status == 200)
            #expect(sim.faults == SimFaults())
            try await pool.shutdownGracefully()
        }
    }

    @Test func droppedConnectionsAreRetryableAndTheTaskMovesOn() async throws {
        let flaky = ComfySim(runTime: .milliseconds(5)), steady = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher([flaky, steady], configure: { $0.healthInterval = .seconds(60) }) { dispatcher, _ in
            flaky.setFaults(SimFaults(dropConnections: true))
            let probe = ComfyUIClient(
                transport: CurlTransport(baseURL: dispatcher.pool.backends[0].url, threadPool: NIOThreadPool.singleton),
                clientID: "probe")
            do throws(ComfyUIError) {
                _ = try await probe.systemStats()
                Issue.record("a dropped connection answered")
            } catch {
                guard case .unavailable(let failure) = error, failure.kind == .unreachable else {
                    Issue.record("\(error)"); return
                }
            }
            let tasks = (0..<4).map { GenerationTask(request: request("fox \($0)")) }
            for task in tasks { _ = try await dispatcher.submit(task) }
            for task in tasks {
                let done = try await finished(dispatcher, task.id)
                #expect(done.status == .completed && done.backend == "sim1")
            }
        }
    }
}

/// Where ComfySim answers as ComfyUI 0.3.64 does (docs/comfyui-protocol.md), on the points real clients notice.
@Suite("ComfySim answers as ComfyUI", .serialized)
struct ComfySimFidelityTests {
    /// An image from nothing, saved under `prefix`: the smallest graph with an output.
    static func graph(prefix: String, extra: [String: Any] = [:]) -> [String: Any] {
        [
            "prompt": [
                "5": ["class_type": "SaveImage", "inputs": ["images": ["12", 0], "filename_prefix": prefix]],
                "12": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
            ],
            "client_id": "fidelity",
        ].merging(extra) { $1 }
    }

    /// Runs one simulator and hands `body` a function sending a request and parsing the JSON answer.
    func withSim(
        _ body: (_ send: (String, String, [String: Any]?) async throws -> (status: Int, json: Any?)) async throws ->
            Void
    ) async throws {
        try await LoopbackSims.with([ComfySim(runTime: .milliseconds(5))]) { running in
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let transport = CurlTransport(baseURL: running.urls[0], threadPool: pool)
            try await body { method, path, object in
                let bytes = try object.map { [UInt8](try JSONSerialization.data(withJSONObject: $0)) }
                let answer = try await transport.send(method, path, body: bytes)
                return (
                    answer.status,
                    try? JSONSerialization.jsonObject(with: Data(answer.body), options: .fragmentsAllowed)
                )
            }
            try await pool.shutdownGracefully()
        }
    }

    func waitForHistory(
        _ send: (String, String, [String: Any]?) async throws -> (status: Int, json: Any?), _ id: String
    )
        async throws -> [String: Any]
    {
        for _ in 0..<500 {
            if let entry = (try await send("GET", "/history/\(id)", nil).json as? [String: Any])?[id] as? [String: Any]
            {
                return entry
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return [:]
    }

    /// Files are numbered per prefix across runs, and the history's messages carry Unix-ms timestamps.
    @Test func filesAreNumberedPerPrefixAndHistoryIsTimestamped() async throws {
        try await withSim { send in
            var names: [String] = []
            for prefix in ["red", "red", "blue"] {
                let queued = try await send("POST", "/prompt", Self.graph(prefix: prefix))
                let id = try #require((queued.json as? [String: Any])?["prompt_id"] as? String)
                let entry = try await waitForHistory(send, id)
                let images =
                    ((entry["outputs"] as? [String: Any])?["5"] as? [String: Any])?["images"] as? [[String: Any]]
                names.append(images?.first?["filename"] as? String ?? "")
                let messages = try #require((entry["status"] as? [String: Any])?["messages"] as? [[Any]])
                #expect(
                    messages.map { $0.first as? String } == [
                        "execution_start", "execution_cached", "execution_success",
                    ])
                let stamps = messages.compactMap { ($0.last as? [String: Any])?["timestamp"] as? Int }
                #expect(stamps.count == 3 && stamps.allSatisfy { $0 > 1_700_000_000_000 } && stamps == stamps.sorted())
                #expect(((entry["meta"] as? [String: Any])?["5"] as? [String: Any])?["node_id"] as? String == "5")
            }
            #expect(names == ["red_00001_.png", "red_00002_.png", "blue_00001_.png"])
        }
    }

    /// `/queue` rows carry `extra_data` (with `client_id`) and the output nodes, as ComfyUI's do.
    @Test func queueRowsCarryExtraDataAndOutputs() async throws {
        let sim = ComfySim(runTime: .seconds(60))
        try await LoopbackSims.with([sim]) { running in
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let transport = CurlTransport(baseURL: running.urls[0], threadPool: pool)
            let body = Self.graph(prefix: "q", extra: ["extra_data": ["extra_pnginfo": ["workflow": "ui"]]])
            _ = try await transport.send(
                "POST", "/prompt", body: [UInt8](try JSONSerialization.data(withJSONObject: body)))
            let queue = try JSONSerialization.jsonObject(with: Data(try await transport.send("GET", "/queue").body))
            let rows =
                ((queue as? [String: Any])?["queue_running"] as? [[Any]] ?? [])
                + ((queue as? [String: Any])?["queue_pending"] as? [[Any]] ?? [])
            let row = try #require(rows.first)
            let extra = try #require(row[3] as? [String: Any])
            #expect(extra["client_id"] as? String == "fidelity")
            #expect((extra["extra_pnginfo"] as? [String: Any])?["workflow"] as? String == "ui")
            #expect(row[4] as? [String] == ["5"])
            _ = try await transport.send("POST", "/interrupt")
            try await pool.shutdownGracefully()
        }
    }

    /// The routes a ComfyUI client may call besides the dispatcher's, and every route under `/api` too.
    @Test(arguments: [
        ("GET", "/object_info/SaveImage", 200), ("GET", "/api/object_info/SaveImage", 200),
        ("GET", "/object_info/NoSuchNode", 200), ("GET", "/history", 200), ("GET", "/api/history?max_items=1", 200),
        ("GET", "/history?max_items=x", 500), ("GET", "/embeddings", 200), ("POST", "/free", 200),
        ("POST", "/api/free", 200), ("GET", "/api/system_stats", 200), ("GET", "/api/queue", 200),
        ("GET", "/api/prompt", 200), ("POST", "/history", 200),
    ])
    func routesAnswerAsComfyUI(method: String, path: String, status: Int) async throws {
        try await withSim { send in
            let body: [String: Any]? = method == "POST" ? [String: Any]() : nil
            let answer = try await send(method, path, body)
            #expect(answer.status == status, "\(method) \(path)")
            if path.hasSuffix("/object_info/SaveImage") {
                #expect((answer.json as? [String: Any])?.keys.sorted() == ["SaveImage"])
            }
            if path == "/object_info/NoSuchNode" { #expect((answer.json as? [String: Any])?.isEmpty == true) }
            if path == "/embeddings" { #expect((answer.json as? [Any])?.isEmpty == true) }
        }
    }

    /// `/api/prompt` queues like `/prompt`; `/system_stats` lists the device it computes on.
    @Test func apiAliasQueuesAndSystemStatsListsADevice() async throws {
        try await withSim { send in
            let queued = try await send("POST", "/api/prompt", Self.graph(prefix: "api"))
            let id = try #require((queued.json as? [String: Any])?["prompt_id"] as? String)
            #expect(!(try await waitForHistory(send, id)).isEmpty)
            let listed = try await send("GET", "/history", nil).json as? [String: Any]
            #expect(listed?[id] != nil)
            let stats = try await send("GET", "/system_stats", nil).json as? [String: Any]
            let devices = try #require(stats?["devices"] as? [[String: Any]])
            #expect(devices.count == 1 && devices[0]["type"] as? String == "cpu" && devices[0]["vram_total"] is Int)
        }
    }

    /// A widget value that does not convert to the input's type is refused as ComfyUI refuses it.
    @Test(arguments: [("steps", #""twenty""#, "INT"), ("cfg", #""high""#, "FLOAT"), ("seed", "[1, 2, 3]", "INT")])
    func wrongInputTypesAreRefused(input: String, json: String, type: String) async throws {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        try await withSim { send in
            var body = Self.graph(prefix: "t")
            var prompt = body["prompt"] as! [String: Any]
            prompt["3"] = [
                "class_type": "KSampler",
                "inputs": [input: value, "model": ["4", 0]] as [String: Any],
            ]
            prompt["4"] = [
                "class_type": "CheckpointLoaderSimple", "inputs": ["ckpt_name": "v1-5-pruned-emaonly.safetensors"],
            ]
            body["prompt"] = prompt
            let answer = try await send("POST", "/prompt", body)
            #expect(answer.status == 400)
            let errors =
                (((answer.json as? [String: Any])?["node_errors"] as? [String: Any])?["3"] as? [String: Any])?[
                    "errors"] as? [[String: Any]]
            let error = try #require(errors?.first)
            #expect(error["type"] as? String == "invalid_input_type")
            #expect(error["message"] as? String == "Failed to convert an input value to a \(type) value")
            #expect((error["extra_info"] as? [String: Any])?["input_name"] as? String == input)
            // Numbers and numeric strings convert, as int()/float() accept them.
            prompt["3"] = ["class_type": "KSampler", "inputs": [input: "7", "model": ["4", 0]] as [String: Any]]
            body["prompt"] = prompt
            #expect(try await send("POST", "/prompt", body).status == 200)
        }
    }
}
