import ComfySim
import Foundation
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import PromptGateTestSupport
import Testing

/// A dispatcher over ComfySims on loopback, running for the duration of `body`.
func withDispatcher(
    _ sims: [ComfySim], workflow: String = "nunchaku-flux.1-dev.api.json", maxInFlight: Int = 1,
    waitForBackends: Bool = true, websocket: Bool = false, store: any TaskStore = InMemoryTaskStore(),
    configure: (inout DispatchSettings) -> Void = { _ in },
    _ body: (Dispatcher, LoopbackSims) async throws -> Void
) async throws {
    let output = try TestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: output) }
    var settings = DispatchSettings()
    settings.outputDirectory = output.path
    settings.healthInterval = .milliseconds(50)
    settings.retryDelay = .milliseconds(20)
    settings.pollInterval = .milliseconds(2) ... .milliseconds(20)
    settings.maxConcurrent = 8
    configure(&settings)
    let graph = try Workflow(path: TestSupport.packageRoot.appendingPathComponent("workflows/\(workflow)").path)
    let pool = NIOThreadPool(numberOfThreads: 4)
    pool.start()
    try await LoopbackSims.with(sims) { running in
        let targets = running.urls.enumerated().map { index, url in
            Dispatcher.Target(
                backend: .init(name: "sim\(index)", url: url, maxInFlight: maxInFlight),
                client: ComfyUIClient(
                    transport: CurlTransport(baseURL: url, threadPool: pool), clientID: "test-\(index)",
                    requestTimeout: .seconds(2)),
                events: websocket ? ComfyUIEvents(baseURL: url, clientID: "test-\(index)") : nil)
        }
        let dispatcher = try Dispatcher(
            settings: settings, workflow: graph, binding: try WorkflowBinding(inferringFrom: graph),
            workflowName: workflow,
            targets: targets, store: store)
        let loop = Task { await dispatcher.run() }
        defer { loop.cancel() }
        if waitForBackends {
            let ready = await TestSupport.eventually {
                dispatcher.pool.snapshot.allSatisfy { $0.state.label != "checking" }
            }
            #expect(ready, "backends were never checked")
        }
        try await body(dispatcher, running)
        loop.cancel()
        await loop.value
    }
    try await pool.shutdownGracefully()
}

/// A request as the optimizers leave it.
func request(_ prompt: String = "a red fox in the snow", seed: UInt64 = 7) -> PromptRequest {
    var request = PromptRequest(prompt: prompt)
    request.seed = seed
    request.steps = 20
    request.cfgScale = 3.5
    request.sampler = "euler"
    request.scheduler = "normal"
    request.width = 1024
    request.height = 768
    return request
}

/// A node input of a graph as ComfyUI received it.
func value(_ graph: [String: JSONValue], _ node: String, _ name: String) -> JSONValue? {
    guard case .object(let fields)? = graph[node], case .object(let inputs)? = fields["inputs"] else { return nil }
    return inputs[name]
}

/// Waits until the task has ended (a bound generous enough for a busy box: it only matters when it fails) and
/// returns it.
func finished(_ dispatcher: Dispatcher, _ id: String, timeout: Duration = .seconds(60)) async throws -> GenerationTask {
    let ended = await TestSupport.eventually(timeout: timeout) {
        await dispatcher.view(id: id)?.task.status.isTerminal == true
    }
    let task = try #require(await dispatcher.view(id: id)?.task)
    #expect(ended, "task \(id) is still \(task.status)")
    return task
}

@Suite("Dispatcher against ComfySim", .serialized)
struct DispatcherTests {
    @Test func generateCompletesWithImagesOnDiskAndTheNunchakuGraphPatched() async throws {
        try await withDispatcher([ComfySim(runTime: .milliseconds(20))]) { dispatcher, sims in
            var task = GenerationTask(request: request())
            task.loras = [
                .init(file: "Ghibsky_Illustration.safetensors", weight: 0.6),
                .init(file: "FLUX.1-Turbo-Alpha.safetensors", weight: 1.2),
            ]
            let submission = try await dispatcher.submit(task)
            #expect(submission.position == 1)
            #expect(submission.estimatedSeconds == 30)  // nothing measured yet: the initial guess
            let done = try await finished(dispatcher, task.id)
            #expect(done.status == .completed)
            #expect(done.attempts == 1 && done.backend == "sim0" && done.promptID == task.id)
            let image = try #require(done.images.first)
            #expect(image.file == "\(task.id)_0.png" && image.seed == 7 && image.node == "9")
            let path = try #require(dispatcher.output.file(named: image.file))
            #expect(FileManager.default.contents(atPath: path) == Data(ComfySim.png))
            #expect(dispatcher.estimator.average(workflow: "nunchaku-flux.1-dev.api.json") < 30)  // measured now

            // What ComfyUI received: the request's values where the binding says, and a two-loader LoRA chain.
            let graph = try #require(sims.sims[0].receivedGraph(promptID: task.id))
            let input = { (node: String, name: String) in value(graph, node, name) }
            #expect(input("6", "text") == "a red fox in the snow")
            #expect(input("25", "noise_seed") == 7)
            #expect(input("27", "height") == 768 && input("30", "height") == 768)
            #expect(input("9", "filename_prefix") == .string("promptgate/\(task.id)"))
            let loaders = graph.filter { _, node in
                if case .object(let fields) = node { return fields["class_type"] == "NunchakuFluxLoraLoader" }
                return false
            }.keys.sorted { Int($0)! < Int($1)! }
            #expect(loaders == ["48", "49"])  // the two old loaders (46, 47) replaced, ids above the old maximum
            #expect(
                input("48", "lora_name") == "Ghibsky_Illustration.safetensors" && input("48", "lora_strength") == 0.6)
            #expect(input("48", "model") == ["45", 0] && input("49", "model") == ["48", 0])
            #expect(input("30", "model") == ["49", 0])  // the consumer reads the end of the chain
        }
    }

    @Test func sdWorkflowGetsKSamplerValuesAndALoraLoaderChainWithClip() async throws {
        try await withDispatcher([ComfySim(runTime: .milliseconds(5))], workflow: "sd15-lora-txt2img.api.json") {
            dispatcher, sims in
            var sd = request("a lighthouse at dusk", seed: 99)
            sd.negativePrompt = "blurry"
            sd.cfgScale = 7
            var task = GenerationTask(request: sd)
            task.loras = [.init(file: "example_lora.safetensors", weight: 0.7)]
            _ = try await dispatcher.submit(task)
            #expect(try await finished(dispatcher, task.id).status == .completed)
            let graph = try #require(sims.sims[0].receivedGraph(promptID: task.id))
            let input = { (node: String, name: String) in value(graph, node, name) }
            #expect(input("3", "seed") == 99 && input("3", "cfg") == 7 && input("3", "steps") == 20)
            #expect(input("6", "text") == "a lighthouse at dusk" && input("7", "text") == "blurry")
            #expect(input("5", "width") == 1024 && input("5", "height") == 768)
            #expect(input("11", "strength_model") == 0.7 && input("11", "strength_clip") == 0.7)
            #expect(input("11", "model") == ["4", 0] && input("11", "clip") == ["4", 1])
            #expect(
                input("3", "model") == ["11", 0] && input("6", "clip") == ["11", 1] && input("7", "clip") == ["11", 1])
            #expect(graph["10"] == nil)  // the graph's own LoRA loader replaced
        }
    }

    @Test func higherPriorityRunsFirstAndLowIsNotStarved() async throws {
        try await withDispatcher([ComfySim(runTime: .milliseconds(500))], configure: { $0.maxConcurrent = 1 }) {
            dispatcher, sims in
            let first = GenerationTask(request: request("first"))
            _ = try await dispatcher.submit(first)
            #expect(await TestSupport.eventually { await dispatcher.view(id: first.id)?.task.status == .running })
            let low = GenerationTask(request: request("low"), priority: .low)
            let normal = GenerationTask(request: request("normal"), priority: .normal)
            let high = GenerationTask(request: request("high"), priority: .high)
            for task in [low, normal, high] { _ = try await dispatcher.submit(task) }
            let highPosition = await dispatcher.view(id: high.id)?.position,
                lowPosition = await dispatcher.view(id: low.id)?.position
            #expect(highPosition == 1 && lowPosition == 3)
            for task in [low, normal, high] { #expect(try await finished(dispatcher, task.id).status == .completed) }
            #expect(sims.sims[0].receivedOrder == [first.id, high.id, normal.id, low.id])
        }
        // Aging: a low task that waited two aging intervals ranks before a fresh high one.
        var queue = TaskQueue(capacity: 10, agingInterval: 30)
        let start = Date()
        queue.push(id: "old-low", priority: .low, at: start)
        queue.push(id: "new-high", priority: .high, at: start.addingTimeInterval(61))
        #expect(queue.pop()?.id == "old-low")
    }

    @Test func fullQueueRefusesWithRetryAfterAndWaitingTasksExpire() async throws {
        // A server that answers 500: down, so everything waits (it may come back).
        let down = ComfySim()
        down.setFaults(SimFaults(http500: true))
        try await withDispatcher(
            [down],
            configure: {
                $0.maxQueueSize = 2; $0.queueTimeout = .milliseconds(1000)
            }
        ) { dispatcher, _ in
            #expect(dispatcher.pool.snapshot[0].state.label == "down")
            let a = GenerationTask(request: request()), b = GenerationTask(request: request())
            _ = try await dispatcher.submit(a)
            _ = try await dispatcher.submit(b)
            await #expect(throws: DispatchError.self) {
                try await dispatcher.submit(GenerationTask(request: request()))
            }
            do throws(DispatchError) {
                _ = try await dispatcher.submit(GenerationTask(request: request()))
                Issue.record("a full queue accepted a task")
            } catch {
                #expect(error.code == "queue_full" && error.kind == .rateLimited)
                #expect((error.retryAfter ?? 0) >= 1)
            }
            let waiting = await dispatcher.view(id: a.id)?.waitingFor
            #expect(waiting?.code == "dispatch.no_backend_available")
            let expired = try await finished(dispatcher, a.id)
            #expect(expired.status == .expired && expired.reason?.code == "queue_timeout")
            // The expiry says why nothing ran it.
            #expect(expired.reason?.message.contains("sim0: down: the backend answered with a server error") == true)
            #expect(try await finished(dispatcher, b.id).status == .expired)
            _ = try await dispatcher.submit(GenerationTask(request: request()))  // room again
        }
    }

    @Test func generationTimeoutInterruptsTheRunAndFails() async throws {
        try await withDispatcher(
            [ComfySim(runTime: .seconds(30))], configure: { $0.generationTimeout = .milliseconds(300) }
        ) { dispatcher, sims in
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let failed = try await finished(dispatcher, task.id)
            #expect(failed.status == .failed && failed.reason?.code == "generation_timeout")
            // The sim saw the interrupt: the run ended as interrupted, and the next task runs at once.
            let next = GenerationTask(request: request("next"))
            _ = try await dispatcher.submit(next)
            #expect(
                await TestSupport.eventually(timeout: .seconds(3)) {
                    await dispatcher.view(id: next.id)?.task.status == .running
                })
            _ = sims
        }
    }

    @Test func cancelRemovesQueuedTasksAndInterruptsRunningOnes() async throws {
        try await withDispatcher([ComfySim(runTime: .seconds(30))], configure: { $0.maxConcurrent = 1 }) {
            dispatcher, sims in
            let running = GenerationTask(request: request("running"))
            let queued = GenerationTask(request: request("queued"))
            _ = try await dispatcher.submit(running)
            _ = try await dispatcher.submit(queued)
            #expect(await TestSupport.eventually { await dispatcher.view(id: running.id)?.task.status == .running })
            // `running` is stored before POST /prompt is sent: wait until the backend has it.
            #expect(await TestSupport.eventually { sims.sims[0].receivedOrder.contains(running.id) })
            let cancelledQueued = try await dispatcher.cancel(id: queued.id)
            #expect(cancelledQueued.status == .cancelled && cancelledQueued.reason?.code == "cancelled")
            let cancelledRunning = try await dispatcher.cancel(id: running.id)
            #expect(cancelledRunning.status == .cancelled)
            #expect(sims.sims[0].receivedOrder == [running.id])  // the queued one never reached ComfyUI
            // The backend is free again: a new task starts right away instead of waiting 30 s.
            let next = GenerationTask(request: request("next"))
            _ = try await dispatcher.submit(next)
            #expect(
                await TestSupport.eventually(timeout: .seconds(3)) {
                    await dispatcher.view(id: next.id)?.task.status == .running
                })
            await #expect { try await dispatcher.cancel(id: running.id) } throws: {
                ($0 as? DispatchError)?.code == "task.finished"
            }
            await #expect(throws: DispatchError.notFound("nope")) { try await dispatcher.cancel(id: "nope") }
        }
    }

    @Test func retryMovesToAnotherBackendWhenOneDiesMidTask() async throws {
        try await withDispatcher([ComfySim(runTime: .milliseconds(1500)), ComfySim(runTime: .milliseconds(1500))]) {
            dispatcher, sims in
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            #expect(await TestSupport.eventually { await dispatcher.view(id: task.id)?.task.status == .running })
            let first = try #require(await dispatcher.view(id: task.id)?.task.backend)
            await sims.stop(first == "sim0" ? 0 : 1)  // the server goes away mid-run
            let done = try await finished(dispatcher, task.id)
            #expect(done.status == .completed)
            #expect(done.attempts == 2 && done.backend != first && done.promptID != task.id)
        }
    }

    @Test func retryableFailuresGiveUpAfterMaxRetries() async throws {
        let sim = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher(
            [sim],
            configure: {
                $0.maxRetries = 2; $0.healthInterval = .seconds(60)
            }
        ) { dispatcher, _ in
            sim.setFaults(SimFaults(http500: true))
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let failed = try await finished(dispatcher, task.id)
            #expect(failed.status == .failed && failed.attempts == 3)
            #expect(failed.reason?.code == "comfyui.server_error")
            // A plain sentence, no Swift enum spelled out.
            #expect(
                failed.reason?.message
                    == "gave up after 3 attempts: could not queue the prompt: the backend answered with a server error (status 500)"
            )
            #expect(failed.reason?.details == ["request": "POST /prompt", "detail": "status 500"])
            // Every attempt is recorded: two retried, the last failed.
            #expect(failed.attemptList.map(\.outcome) == ["retried", "retried", "failed"])
            #expect(failed.attemptList.allSatisfy { $0.reason?.code == "comfyui.server_error" && $0.endedAt != nil })
        }
    }

    /// ComfyUI queued the prompt but answered after the client's timeout: the run is followed, not sent again.
    @Test func aPromptQueuedBehindATimeoutIsFollowedNotSentTwice() async throws {
        let sim = ComfySim(runTime: .milliseconds(300))
        try await withDispatcher(
            [sim],
            configure: {
                $0.requestTimeout = .milliseconds(500); $0.healthInterval = .seconds(60)
            }
        ) { dispatcher, _ in
            sim.setFaults(SimFaults(slowPromptAnswer: .seconds(2)))
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let done = try await finished(dispatcher, task.id)
            #expect(done.status == .completed && done.attempts == 1 && done.promptID == task.id)
            #expect(sim.receivedOrder == [task.id])
        }
    }

    @Test func malformedAnswersAndHangsAreRetryable() async throws {
        let sim = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher(
            [sim],
            configure: {
                $0.maxRetries = 1; $0.healthInterval = .seconds(60)
            }
        ) { dispatcher, _ in
            sim.setFaults(SimFaults(malformedJSON: true))
            let garbled = GenerationTask(request: request())
            _ = try await dispatcher.submit(garbled)
            #expect(try await finished(dispatcher, garbled.id).reason?.code == "comfyui.bad_answer")
            sim.setFaults(SimFaults(hang: true))  // the client's 2 s request timeout ends each call
            let hung = GenerationTask(request: request())
            _ = try await dispatcher.submit(hung)
            let failed = try await finished(dispatcher, hung.id)
            #expect(failed.reason?.code == "comfyui.timeout" && failed.attempts == 2)
            #expect(failed.reason?.message.hasSuffix("did not answer within comfyui.request_timeout") == true)
            sim.setFaults(SimFaults())
        }
    }

    @Test func validationFailureAndExecutionErrorAreFinalWithComfyUIsMessage() async throws {
        let sim = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher([sim]) { dispatcher, sims in
            var missing = GenerationTask(request: request())
            missing.loras = [.init(file: "not-installed.safetensors", weight: 1)]
            _ = try await dispatcher.submit(missing)
            let rejected = try await finished(dispatcher, missing.id)
            #expect(rejected.status == .failed && rejected.attempts == 1)  // not retried
            #expect(rejected.reason?.code == "comfyui.rejected")
            guard case .object(let nodes)? = rejected.reason?.details else {
                Issue.record("no node_errors")
                return
            }
            #expect(nodes["48"] != nil)  // the inserted loader is the node ComfyUI blamed
            #expect("\(nodes)".contains("not-installed.safetensors"))

            sims.sims[0].setFaults(SimFaults(executionError: true))
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let failed = try await finished(dispatcher, task.id)
            #expect(failed.status == .failed && failed.reason?.code == "comfyui.execution_error")
            #expect(failed.reason?.message.contains("CUDA out of memory (simulated)") == true)
        }
    }

    @Test func ineligibleBackendGetsNoWorkAndAnEligibleOneDoes() async throws {
        let broken = ComfySim(models: ["model_path": ["some-other-model"]])
        try await withDispatcher([broken, ComfySim(runTime: .milliseconds(5))], maxInFlight: 4) { dispatcher, sims in
            let states = dispatcher.pool.snapshot.map(\.state)
            #expect(
                states[0].label == "ineligible"
                    && states[0].ineligibleReason?.message.contains("svdq-int4-flux.1-dev") == true)
            #expect(states[1].label == "up")
            let tasks = (0..<6).map { GenerationTask(request: request("fox \($0)")) }
            for task in tasks { _ = try await dispatcher.submit(task) }
            for task in tasks { #expect(try await finished(dispatcher, task.id).backend == "sim1") }
            #expect(sims.sims[0].receivedOrder.isEmpty)
        }
    }

    /// Every backend lacks something structural: new work is refused with each backend's reason; work already
    /// queued says what it waits for, and runs once the file is back. An `up` backend is checked again on
    /// `revalidate_interval`, so a file deleted from a running server is noticed.
    @Test func aFileDeletedFromARunningBackendIsNoticedAndNewWorkRefused() async throws {
        let sim = ComfySim(runTime: .milliseconds(400))
        let complete = sim.models
        try await withDispatcher([sim], configure: { $0.revalidateInterval = .milliseconds(100) }) { dispatcher, _ in
            let first = GenerationTask(request: request("first")), second = GenerationTask(request: request("second"))
            _ = try await dispatcher.submit(first)
            #expect(await TestSupport.eventually { await dispatcher.view(id: first.id)?.task.status == .running })
            _ = try await dispatcher.submit(second)
            var models = complete
            models["model_path"] = []  // the diffusion model deleted from the server
            sim.setModels(models)
            #expect(await TestSupport.eventually { dispatcher.pool.snapshot[0].state.label == "ineligible" })
            let reason = try #require(dispatcher.pool.snapshot[0].state.ineligibleReason)
            #expect(reason.code == "backend.missing_files")
            // Noticed by the revalidation ("it offers none") or, when the queued task reached the server first, by
            // ComfyUI refusing the file ("ComfyUI refused it"): either way the message names the file.
            #expect(reason.message.contains("model_path 'svdq-int4-flux.1-dev' is not on this server"))
            // When the queued task reached the server first, it waits out `retry_delay` before it says so.
            _ = await TestSupport.eventually {
                await dispatcher.view(id: second.id)?.waitingFor?.code == "dispatch.no_eligible_backend"
            }
            let waiting = await dispatcher.view(id: second.id)?.waitingFor
            #expect(
                waiting?.code == "dispatch.no_eligible_backend" && waiting?.message.contains("sim0: node 45") == true,
                "\(String(describing: waiting))")
            do throws(DispatchError) {
                _ = try await dispatcher.submit(GenerationTask(request: request("third")))
                Issue.record("work no backend can run was accepted")
            } catch {
                #expect(error.code == "dispatch.no_eligible_backend" && error.kind == .unavailable)
                #expect((error.retryAfter ?? 0) >= 1)
                guard case .array(let each)? = error.details, case .object(let one)? = each.first else {
                    Issue.record("no per-backend details"); return
                }
                #expect(one["backend"] == "sim0" && one["code"] == "backend.missing_files")
            }
            sim.setModels(complete)  // installed again: eligible without a restart
            #expect(try await finished(dispatcher, second.id).status == .completed)
        }
    }

    /// ComfyUI refuses a model file the workflow needs (`value_not_in_list` on a loader): the backend's fault.
    /// It is marked ineligible and the task moves to another backend; a file only the request named stays the
    /// caller's fault.
    @Test func aRefusedModelFileMovesTheTaskToAnotherBackend() async throws {
        let lacking = ComfySim(runTime: .milliseconds(5)), good = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher([lacking, good], configure: { $0.healthInterval = .seconds(60) }) {
            dispatcher, _ in
            #expect(dispatcher.pool.snapshot.map(\.state.label) == ["up", "up"])
            var models = lacking.models
            models["model_path"] = ["another-model"]  // deleted since the last /object_info check
            lacking.setModels(models)
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let done = try await finished(dispatcher, task.id)
            #expect(done.status == .completed && done.backend == "sim1" && done.attempts == 2)
            #expect(done.reason == nil)
            let attempts = done.attemptList
            #expect(
                attempts.map(\.backend) == ["sim0", "sim1"] && attempts.map(\.outcome) == ["retried", "completed"])
            #expect(attempts[0].reason?.code == "comfyui.missing_file")
            #expect(attempts[1].promptID == done.promptID && attempts[1].reason == nil)
            let state = dispatcher.pool.snapshot[0].state
            #expect(state.label == "ineligible" && state.ineligibleReason?.code == "backend.missing_files")
            // A LoRA file only the request names: the caller's mistake, final, and both backends stay as they were.
            var unknown = GenerationTask(request: request("with an unknown lora"))
            unknown.loras = [WorkflowPatcher.LoraFile(file: "nobody-has-this.safetensors", weight: 1)]
            _ = try await dispatcher.submit(unknown)
            let refused = try await finished(dispatcher, unknown.id)
            #expect(refused.status == .failed && refused.reason?.code == "comfyui.rejected" && refused.attempts == 1)
            #expect(dispatcher.pool.snapshot[1].state.label == "up")
        }
    }

    /// A cancel stops the prompt on the backend once: one queue delete, one interrupt.
    @Test func aCancelStopsTheRunOnce() async throws {
        let sim = ComfySim(runTime: .seconds(30))
        try await withDispatcher([sim]) { dispatcher, _ in
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            #expect(await TestSupport.eventually { await dispatcher.view(id: task.id)?.task.status == .running })
            try await dispatcher.cancel(id: task.id)
            try await Task.sleep(for: .milliseconds(300))  // the attempt notices at its next poll (≤ 20 ms)
            #expect(sim.stopRequests(task.id) == 2, "delete and interrupt, once each")
        }
    }

    @Test func downBackendComesBackAndIsCheckedAgain() async throws {
        let sim = ComfySim(runTime: .milliseconds(5))
        try await withDispatcher([sim]) { dispatcher, _ in
            sim.setFaults(SimFaults(http500: true))
            #expect(await TestSupport.eventually { dispatcher.pool.snapshot[0].state.isDown })
            #expect(dispatcher.pool.snapshot[0].state.lastError?.code == "comfyui.server_error")
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            try await Task.sleep(for: .milliseconds(100))
            #expect(await dispatcher.view(id: task.id)?.task.status == .queued)  // a down backend gets no work
            sim.setFaults(SimFaults())
            #expect(try await finished(dispatcher, task.id).status == .completed)
        }
    }

    @Test func endedTasksAndTheirImagesGoAfterRetention() async throws {
        try await withDispatcher(
            [ComfySim(runTime: .milliseconds(5))], configure: { $0.taskRetention = .milliseconds(100) }
        ) { dispatcher, _ in
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            let done = try await finished(dispatcher, task.id)
            let path = try #require(dispatcher.output.file(named: done.images[0].file))
            #expect(FileManager.default.fileExists(atPath: path))
            await dispatcher.removeOldTasks()
            #expect(await dispatcher.view(id: task.id) != nil)  // not old enough yet
            try await Task.sleep(for: .milliseconds(150))
            await dispatcher.removeOldTasks()
            #expect(await dispatcher.view(id: task.id) == nil)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func websocketEventsGiveSamplerProgressAndEndTheWaitEarly() async throws {
        // Slow polling, so only the WebSocket's `executing: null` can make the task finish quickly.
        try await withDispatcher(
            [ComfySim(runTime: .milliseconds(600))], websocket: true,
            configure: {
                $0.pollInterval = .seconds(5) ... .seconds(5)
            }
        ) { dispatcher, _ in
            let task = GenerationTask(request: request())  // 20 steps
            let submitted = ContinuousClock.now
            _ = try await dispatcher.submit(task)
            var seen: Set<Double> = []
            while await dispatcher.view(id: task.id)?.task.status.isTerminal == false {
                if let progress = await dispatcher.view(id: task.id)?.progress,
                    await dispatcher.view(id: task.id)?.task.status == .running
                {
                    seen.insert(progress)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await dispatcher.view(id: task.id)?.task.status == .completed)
            #expect(ContinuousClock.now - submitted < .seconds(3))  // not the 5 s poll
            // The sampler's `progress` events (k/20) move it: the time-based estimate alone stays near 0 (0.6 s
            // of a 30 s first guess).
            #expect(seen.contains { $0 >= 0.5 }, "\(seen.sorted())")
        }
    }

    /// The time-based estimate runs ahead (the average run is short), then the sampler's first event reports a
    /// small fraction: what a client sees never goes back.
    @Test func progressNeverDecreasesWhenTheSamplerReplacesTheEstimate() async throws {
        try await withDispatcher(
            [ComfySim(runTime: .milliseconds(800))], websocket: true,
            configure: { $0.pollInterval = .seconds(5) ... .seconds(5) }
        ) { dispatcher, _ in
            for _ in 0..<20 { dispatcher.estimator.record(workflow: dispatcher.workflowName, seconds: 0.001) }
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            var shown: [Double] = []
            while let view = await dispatcher.view(id: task.id), !view.task.status.isTerminal {
                if view.task.status == .running, let progress = view.progress { shown.append(progress) }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(!shown.isEmpty)
            #expect(zip(shown, shown.dropFirst()).allSatisfy { $0 <= $1 }, "\(shown)")
            // The estimate reached its cap, and the sampler's events still moved it on.
            #expect(shown.contains { $0 >= 0.95 } && shown.contains { $0 > 0.95 && $0 < 1 }, "\(shown)")
        }
    }
}

@Suite("Dispatcher recovery", .serialized)
struct DispatcherRecoveryTests {
    @Test func aPromptTheBackendForgotIsRetried() async throws {
        let sim = ComfySim(runTime: .seconds(2))
        try await withDispatcher([sim], configure: { $0.presenceInterval = .milliseconds(200) }) { dispatcher, _ in
            let task = GenerationTask(request: request())
            _ = try await dispatcher.submit(task)
            #expect(await TestSupport.eventually { await dispatcher.view(id: task.id)?.task.status == .running })
            try await Task.sleep(for: .milliseconds(100))
            sim.restart()  // ComfyUI restarted: /history says {} for ever, /queue does not list the prompt
            let done = try await finished(dispatcher, task.id)
            #expect(done.status == .completed && done.attempts == 2)
        }
    }

    @Test func reloadedLoraFilesAreCheckedAgainstTheBackends() async throws {
        try await withDispatcher([ComfySim(runTime: .milliseconds(5))], configure: { $0.healthInterval = .seconds(60) })
        { dispatcher, _ in
            #expect(dispatcher.pool.snapshot[0].state.label == "up")
            // a reloaded preset names it: the backend stays up for everything else, and knows what it lacks
            await dispatcher.updateRequirements(BackendRequirements(loraFiles: ["brand_new_style.safetensors"]))
            let state = dispatcher.pool.snapshot[0].state
            #expect(state.label == "up" && state.missingLoras == ["brand_new_style.safetensors"])
            // a request needing it is refused at submit (no backend has it), one without runs
            var needing = GenerationTask(request: request("needs the new style"))
            needing.loras = [.init(file: "brand_new_style.safetensors", weight: 1)]
            do {
                _ = try await dispatcher.submit(needing)
                Issue.record("accepted a task no backend can run")
            } catch let error as DispatchError {
                #expect(error.code == "dispatch.lora_unavailable" && error.kind == .unavailable)
                #expect(error.message.contains("sim0 lacks brand_new_style.safetensors"))
                #expect(error.retryAfter != nil)
            }
            let plain = GenerationTask(request: request("needs nothing new"))
            _ = try await dispatcher.submit(plain)
            #expect(try await finished(dispatcher, plain.id).status == .completed)
            // one the server has
            await dispatcher.updateRequirements(BackendRequirements(loraFiles: ["product_style.safetensors"]))
            #expect(
                dispatcher.pool.snapshot[0].state.label == "up"
                    && dispatcher.pool.snapshot[0].state.missingLoras.isEmpty)
        }
    }

    /// Eligibility is per LoRA set: a backend lacking one preset's LoRA file keeps running everything else, and
    /// the requests that need the file go to the backend that has it.
    @Test func requestsNeedingALoraGoWhereItIs() async throws {
        var models = ComfySim.defaultModels
        models["lora_name"] = models["lora_name"]!.filter { $0 != "metal_gloss.safetensors" }
        let lacking = ComfySim(models: models, runTime: .milliseconds(20))
        let having = ComfySim(runTime: .milliseconds(20))
        try await withDispatcher(
            [lacking, having], maxInFlight: 4,
            configure: { $0.requirements = BackendRequirements(loraFiles: ["metal_gloss.safetensors"]) }
        ) { dispatcher, _ in
            let states = dispatcher.pool.snapshot.map(\.state)
            #expect(states.map(\.label) == ["up", "up"])
            #expect(states[0].missingLoras == ["metal_gloss.safetensors"] && states[1].missingLoras.isEmpty)
            var ids: [String] = []
            for index in 0..<6 {
                var task = GenerationTask(request: request("a chrome kettle \(index)"))
                task.loras = [.init(file: "metal_gloss.safetensors", weight: 0.7)]
                _ = try await dispatcher.submit(task)
                ids.append(task.id)
            }
            for id in ids {
                let done = try await finished(dispatcher, id)
                #expect(done.status == .completed && done.attemptList.map(\.backend) == ["sim1"], "\(done.attemptList)")
            }
            #expect(lacking.executed.isEmpty)
        }
    }
}
