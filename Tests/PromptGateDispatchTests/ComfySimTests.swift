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
