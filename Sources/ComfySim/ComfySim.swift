import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

/// A ComfyUI stand-in speaking the routes the dispatcher uses, with the shapes recorded from ComfyUI
/// v0.3.64 (docs/comfyui-protocol.md): `POST /prompt` (validation errors with `node_errors`), `GET
/// /history/{id}` (`{}` until done), `GET /view`, `GET /object_info`, `GET /system_stats`, `GET /queue`,
/// `POST /interrupt`. Runs take `runTime`; outputs are small PNG files. For tests and demos without a GPU.
public final class ComfySim: Sendable {
    /// Model files and combo options the server "has", by input name (`ckpt_name`, `lora_name`, `model_path`,
    /// `sampler_name`, ...); `setModels` changes them while it runs, as files added to or deleted from a
    /// ComfyUI's model folders do.
    public var models: [String: [String]] { modelState.withLock { $0 } }
    private let modelState: Mutex<[String: [String]]>
    /// Node classes the server "has installed".
    public let classes: Set<String>
    /// How long a run takes (the sampler's steps are spread over it).
    public let runTime: Duration

    struct Job {
        var id: String
        var number: Int
        /// The graph as received (JSON), echoed by `/history` and `/queue`.
        var graph: Data
        /// Each node's `class_type`, by node id.
        var classes: [String: String]
        /// The sampler's `steps` (20 when the graph has none).
        var steps: Int
        var outputs: [(node: String, filename: String, subfolder: String)]
        var clientID: String?
        /// `extra_data` as ComfyUI keeps it (the request's, with `client_id`), JSON; `/queue` and `/history` echo it.
        var extraData: Data = Data("{}".utf8)
        /// The nodes in the order the executor runs them: every node after the nodes it takes inputs from.
        var executionOrder: [String] = []
        /// The output nodes (`outputs_to_execute`).
        var outputNodes: [String] = []
        var state: State = .pending
        var outcome = "execution_success"
        var interruptRequested = false
        /// When the run started and ended, Unix ms (the history's messages carry them).
        var startedAt = 0
        var endedAt = 0
        enum State { case pending, running, done }
    }

    private struct Jobs {
        var list: [String: Job] = [:]
        var order: [String] = []
        var counter = 0
        /// Pending ids in `number` order (numbers only grow, so appending keeps the order).
        var pending: [String] = []
        var pendingStart = 0
        /// Output file names, for `/view`.
        var files: Set<String> = []
        /// The last number used per `filename_prefix` (ComfyUI numbers each prefix's files on: `x_00001_.png`,
        /// `x_00002_.png`, …).
        var counters: [String: Int] = [:]
        var workerActive = false
        /// Every `/prompt` body's graph by prompt id, refused ones included (tests read them back).
        var received: [String: Data] = [:]
        /// Queue deletes and interrupts naming each prompt id.
        var stopRequests: [String: Int] = [:]
        /// Every prompt id that started running, in order (a prompt run twice is there twice).
        var executed: [String] = []
    }

    private let jobs = Mutex(Jobs())
    private let faultState = Mutex(SimFaults())
    let events = SimEventHub()

    /// The node classes of the shipped workflows (SD 1.5 and Nunchaku FLUX), all "installed" by default.
    public static let defaultClasses: Set<String> = [
        "KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced", "RandomNoise", "BasicScheduler", "KSamplerSelect",
        "BasicGuider",
        "CFGGuider", "FluxGuidance", "CLIPTextEncode", "EmptyLatentImage", "EmptySD3LatentImage", "ModelSamplingFlux",
        "CheckpointLoaderSimple", "LoraLoader", "VAELoader", "VAEDecode", "SaveImage", "PreviewImage", "EmptyImage",
        "NunchakuFluxDiTLoader", "NunchakuFluxLoraLoader", "NunchakuTextEncoderLoader", "NunchakuTextEncoderLoaderV2",
    ]

    /// The model files of the shipped workflows and the bundled presets' LoRAs.
    public static let defaultModels: [String: [String]] = [
        "ckpt_name": ["v1-5-pruned-emaonly.safetensors"],
        "lora_name": [
            "example_lora.safetensors", "flux1-turbo.safetensors", "diffusers-ghibsky.safetensors",
            "FLUX.1-Turbo-Alpha.safetensors",
            "Ghibsky_Illustration.safetensors", "product_style.safetensors", "fashion_fabric_v2.safetensors",
            "fashion_pose.safetensors",
            "metal_gloss.safetensors",
        ],
        "model_path": ["svdq-int4-flux.1-dev"], "vae_name": ["ae.safetensors"],
        "text_encoder1": ["t5xxl_fp16.safetensors"], "text_encoder2": ["clip_l.safetensors"],
        // ComfyUI 0.3.64's KSampler.SAMPLERS and SCHEDULER_NAMES.
        "sampler_name": [
            "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
            "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
            "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
            "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
            "res_multistep_cfg_pp", "gradient_estimation", "er_sde", "seeds_2", "seeds_3", "ddim", "uni_pc",
            "uni_pc_bh2",
        ],
        "scheduler": [
            "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic",
            "kl_optimal",
        ],
    ]

    /// Replaces the model files and options (a file deleted from or copied into a model folder).
    public func setModels(_ models: [String: [String]]) { modelState.withLock { $0 = models } }

    /// A simulator with these model files, node classes and run time.
    public init(
        models: [String: [String]] = ComfySim.defaultModels, classes: Set<String> = ComfySim.defaultClasses,
        runTime: Duration = .milliseconds(50)
    ) {
        modelState = Mutex(models)
        self.classes = classes
        self.runTime = runTime
    }

    /// A 1×1 PNG, what every "generated" image holds.
    public static let png: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01,
        0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
        0x44, 0x41,
        0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D,
        0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]

    /// Forgets every prompt, queued, running and finished, as a restarted ComfyUI does (history lives in memory).
    public func restart() {
        jobs.withLock { state in
            for id in state.list.keys { state.list[id]?.interruptRequested = true }
            state.list = [:]
            state.pending = []
            state.pendingStart = 0
        }
    }

    /// Changes the injected faults (see `SimFaults`).
    public func setFaults(_ faults: SimFaults) { faultState.withLock { $0 = faults } }

    /// The faults injected now.
    public var faults: SimFaults { faultState.withLock { $0 } }

    /// The graph `POST /prompt` received for a prompt id (after our patching, as ComfyUI saw it), as JSON text.
    public func received(promptID: String) -> Data? { jobs.withLock { $0.received[promptID] } }

    /// How many queue deletes and interrupts named a prompt id.
    public func stopRequests(_ promptID: String) -> Int { jobs.withLock { $0.stopRequests[promptID] ?? 0 } }

    /// Prompt ids in the order they started running, one entry per run (`GET /sim/executed`).
    public var executed: [String] { jobs.withLock { $0.executed } }

    /// Prompt ids in the order they were received.
    public var receivedOrder: [String] { jobs.withLock { $0.order } }

    /// The router with every route.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: FaultMiddleware(sim: self))
        // Every ComfyUI route answers under `/api` too (`server.py` registers each twice).
        for prefix in ["", "/api"] {
            router.post("\(prefix)/prompt") { request, _ in try await self.queuePrompt(request) }
            router.get("\(prefix)/prompt") { _, _ in
                Self.json(["exec_info": ["queue_remaining": self.queueRemaining]])
            }
            router.get("\(prefix)/history") { request, _ in self.historyList(request) }
            router.post("\(prefix)/history") { request, _ in try await self.editHistory(request) }
            router.get("\(prefix)/history/{id}") { _, context in self.history(id: context.parameters.get("id") ?? "") }
            router.get("\(prefix)/view") { request, _ in self.view(request) }
            router.get("\(prefix)/object_info") { _, _ in Self.json(self.objectInfo()) }
            router.get("\(prefix)/object_info/{class}") { _, context in
                Self.json(self.objectInfo(only: context.parameters.get("class") ?? ""))
            }
            router.get("\(prefix)/system_stats") { _, _ in Self.json(Self.systemStats()) }
            router.get("\(prefix)/embeddings") { _, _ in Self.json(array: []) }
            router.post("\(prefix)/free") { request, _ in
                _ = try await request.body.collect(upTo: 1 << 16)
                return Response(status: .ok)
            }
            router.get("\(prefix)/queue") { _, _ in self.queue() }
            router.post("\(prefix)/queue") { request, _ in try await self.editQueue(request) }
            router.post("\(prefix)/interrupt") { request, _ in try await self.interrupt(request) }
        }
        router.get("/sim/executed") { _, _ in Self.json(["prompt_ids": self.executed]) }
        router.post("/sim/faults") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            guard let object = SimJSON.object(Data(buffer: body)) else {
                return Self.json(["error": "expected a JSON object of faults"], status: .badRequest)
            }
            do throws(SimFaultsError) {
                self.setFaults(try SimFaults(json: object))
            } catch {
                return Self.json(["error": error.message], status: .badRequest)
            }
            return Self.json(["status": "ok"])
        }
        return router
    }

    // MARK: - Routes

    func queuePrompt(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 20)
        guard let object = SimJSON.object(Data(buffer: body)) else {
            return Response(
                status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "500 Internal Server Error")))
        }
        guard let graph = object["prompt"] as? [String: Any] else {
            return Self.refusal("no_prompt", "No prompt provided", [:])
        }
        let id = SimJSON.string(object["prompt_id"]) ?? UUID().uuidString.lowercased()
        let graphData = SimJSON.data(graph)
        jobs.withLock { $0.received[id] = graphData }
        var outputs: [(String, String, String)] = []
        var nodeErrors: [String: Any] = [:]
        var nodeClasses: [String: String] = [:]
        var steps = 20
        var batch = 1
        var saves: [(String, String)] = []
        let models = self.models
        for (id, node) in graph.sorted(by: { $0.key < $1.key }) {
            guard let fields = node as? [String: Any], let classType = SimJSON.string(fields["class_type"]) else {
                return Self.refusal(
                    "invalid_prompt", "Cannot execute because a node is missing the class_type property.", [:])
            }
            guard classes.contains(classType) else {
                return Self.refusal("invalid_prompt", "Cannot execute because node \(classType) does not exist.", [:])
            }
            nodeClasses[id] = classType
            guard let inputs = fields["inputs"] as? [String: Any] else { continue }
            if let n = SimJSON.number(inputs["steps"]) { steps = max(1, Int(n)) }
            var errors: [[String: Any]] = []
            for (name, value) in inputs.sorted(by: { $0.key < $1.key }) {
                if let type = Self.inputTypes[name], let error = Self.typeError(name, value, type) {
                    errors.append(error)
                    continue
                }
                guard let allowed = models[name], let text = SimJSON.string(value), !allowed.contains(text) else {
                    continue
                }
                errors.append([
                    "type": "value_not_in_list", "message": "Value not in list",
                    "details": "\(name): '\(text)' not in \(allowed)",
                    "extra_info": ["input_name": name, "input_config": [allowed], "received_value": text],
                ])
            }
            if !errors.isEmpty { nodeErrors[id] = ["errors": errors, "class_type": classType] }
            if let n = SimJSON.number(inputs["batch_size"]) { batch = max(batch, Int(n)) }
            if classType == "SaveImage" { saves.append((id, SimJSON.string(inputs["filename_prefix"]) ?? "ComfyUI")) }
        }
        let outputNodes = nodeClasses.filter { Self.outputClasses.contains($0.value) }.keys.sorted(by: Self.idOrder)
        if !nodeErrors.isEmpty {
            nodeErrors = nodeErrors.mapValues { value in
                var entry = value as? [String: Any] ?? [:]
                entry["dependent_outputs"] = outputNodes
                return entry
            }
            return Self.refusal("prompt_outputs_failed_validation", "Prompt outputs failed validation", nodeErrors)
        }
        if saves.isEmpty { return Self.refusal("prompt_no_outputs", "Prompt has no outputs", [:]) }
        let clientID = SimJSON.string(object["client_id"])
        var extra = object["extra_data"] as? [String: Any] ?? [:]
        if let clientID { extra["client_id"] = clientID }
        let extraData = SimJSON.data(extra)
        let executionOrder = Self.executionOrder(graph)
        let (number, startWorker) = jobs.withLock { state -> (Int, Bool) in
            // SaveImage writes one file per image of the batch, numbered on from its prefix's counter.
            for (id, prefix) in saves {
                let parts = prefix.split(separator: "/", omittingEmptySubsequences: false)
                let subfolder = parts.dropLast().joined(separator: "/")
                for _ in 1...max(1, batch) {
                    let number = (state.counters[prefix] ?? 0) + 1
                    state.counters[prefix] = number
                    let counter = String(repeating: "0", count: max(0, 5 - String(number).count)) + String(number)
                    outputs.append((id, "\(parts.last ?? "ComfyUI")_\(counter)_.png", subfolder))
                }
            }
            state.counter += 1
            var job = Job(
                id: id, number: state.counter, graph: graphData, classes: nodeClasses, steps: steps, outputs: outputs,
                clientID: clientID)
            job.extraData = extraData
            job.executionOrder = executionOrder
            job.outputNodes = outputNodes
            state.list[id] = job
            state.order.append(id)
            state.pending.append(id)
            for output in outputs { state.files.insert(output.1) }
            let start = !state.workerActive
            state.workerActive = true
            return (state.counter, start)
        }
        if startWorker {
            // ComfyUI executes on its own prompt-worker thread, beside the server's event loop.
            let worker = Thread { [self] in self.work() }
            worker.name = "comfy-sim prompt worker"
            worker.start()
        }
        return Self.json(["prompt_id": id, "number": number, "node_errors": [String: Any]()])
    }

    /// ComfyUI's prompt worker, on a thread of its own: one prompt at a time, lowest `number` first; an
    /// interrupt ends the running one at the next "node boundary" (here: within 5 ms). As in ComfyUI's
    /// `prompt_worker`, the output file is on disk before `executed` names it, `execution_success` (or the
    /// failure) is sent next, then the history entry is written (`task_done`), then a `status` broadcast, and
    /// `executing` with `node: null` last.
    private func work() {
        while true {
            let next = jobs.withLock { state -> String? in
                while state.pendingStart < state.pending.count {
                    let id = state.pending[state.pendingStart]
                    state.pendingStart += 1
                    if state.pendingStart > 1024 {
                        state.pending.removeFirst(state.pendingStart)
                        state.pendingStart = 0
                    }
                    // Deleted from the queue meanwhile (POST /queue): skip.
                    guard state.list[id]?.state == .pending else { continue }
                    state.list[id]?.state = .running
                    state.executed.append(id)
                    return id
                }
                state.workerActive = false
                return nil
            }
            guard let id = next, let job = jobs.withLock({ $0.list[id] }) else { return }
            let outcome = run(job)
            guard jobs.withLock({ $0.list[id] != nil }) else { continue }  // a restart forgot it: nothing more is said
            // The save node writes its file before ComfyUI reports it (`executed`).
            if outcome == "execution_success" {
                for output in job.outputs { writeOutput(output.filename) }
            }
            outcomeEvents(job, outcome: outcome)
            jobs.withLock { state in
                state.list[id]?.state = .done
                state.list[id]?.outcome = outcome
            }
            events.send("status", ["status": ["exec_info": ["queue_remaining": queueRemaining]]], to: nil)
            events.sendStep(.executing(nil, prompt: job.id), to: job.clientID)
        }
    }

    /// One run: the events ComfyUI sends while the graph executes (execution_start, execution_cached, then per
    /// node executing, sampler progress, executed for outputs), spread over `runTime`; an interrupt ends it.
    private func run(_ job: Job) -> String {
        let client = job.clientID
        let prompt = job.id
        let started = SimJSON.timestamp()
        jobs.withLock { $0.list[job.id]?.startedAt = started }
        events.send("execution_start", ["prompt_id": prompt, "timestamp": started], to: client)
        events.send("execution_cached", ["nodes": [Any](), "prompt_id": prompt, "timestamp": started], to: client)
        let sampler = job.classes.first { _, type in type.hasPrefix("KSampler") || type == "SamplerCustomAdvanced" }?
            .key
        let steps = job.steps
        let start = ContinuousClock.now
        let deadline = start + runTime
        for node in job.executionOrder {
            events.sendStep(.executing(node, prompt: job.id), to: client)
            guard node == sampler else { continue }
            for step in 1...steps {
                // The sampler takes the run time; an interrupt is noticed at the next step, as in ComfyUI.
                let due = start + runTime * (Double(step) / Double(steps))
                while ContinuousClock.now < due {
                    if stopped(job.id) { return "execution_interrupted" }
                    Self.sleep(min(.milliseconds(5), due - ContinuousClock.now))
                }
                if stopped(job.id) { return "execution_interrupted" }
                events.sendStep(.progress(step, of: steps, node: node, prompt: job.id), to: client)
            }
        }
        while ContinuousClock.now < deadline {
            if stopped(job.id) { return "execution_interrupted" }
            Self.sleep(min(.milliseconds(5), deadline - ContinuousClock.now))
        }
        if stopped(job.id) { return "execution_interrupted" }
        return faults.executionError ? "execution_error" : "execution_success"
    }

    /// Blocks the worker thread, as a GPU kernel does.
    private static func sleep(_ duration: Duration) {
        guard duration > .zero else { return }
        Thread.sleep(
            forTimeInterval: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// Where output files are written (and `/view` reads them from), a folder per simulator.
    private let outputFolder: URL = FileManager.default.temporaryDirectory.appendingPathComponent(
        "comfy-sim-\(UUID().uuidString.prefix(8))", isDirectory: true)

    deinit { try? FileManager.default.removeItem(at: outputFolder) }

    private func writeOutput(_ name: String) {
        try? FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
        try? Data(Self.png).write(to: outputFolder.appendingPathComponent(name))
    }

    /// Interrupted, or forgotten by a restart.
    private func stopped(_ id: String) -> Bool { jobs.withLock { $0.list[id]?.interruptRequested ?? true } }

    /// The end of a run as the executor reports it: executed per output, then success / error / interrupted
    /// (sent before the history entry exists, as in ComfyUI).
    private func outcomeEvents(_ job: Job, outcome: String) {
        var job = job
        job.endedAt = SimJSON.timestamp()
        job.outcome = outcome
        let ended = job.endedAt
        jobs.withLock { $0.list[job.id]?.endedAt = ended }
        if outcome == "execution_success" {
            for (node, images) in Self.imagesByNode(job) {
                events.send(
                    "executed",
                    ["node": node, "display_node": node, "prompt_id": job.id, "output": ["images": images]],
                    to: job.clientID)
            }
        }
        events.send(outcome, Self.outcomeData(job), to: job.clientID)
    }

    /// The data of the run's last event (`execution_success`, `execution_error`, `execution_interrupted`), as
    /// the WebSocket sends it and the history's messages keep it.
    static func outcomeData(_ job: Job) -> [String: Any] {
        switch job.outcome {
        case "execution_success": ["prompt_id": job.id, "timestamp": job.endedAt]
        case "execution_error": errorData(job)
        default:
            [
                "prompt_id": job.id, "node_id": NSNull(), "node_type": NSNull(), "executed": [Any](),
                "timestamp": job.endedAt,
            ]
        }
    }

    /// The job's images per output node, in node order and batch order within a node (one `executed` event
    /// and one history entry per node, as ComfyUI reports a batch).
    static func imagesByNode(_ job: Job) -> [(String, [[String: Any]])] {
        var grouped: [(String, [[String: Any]])] = []
        for output in job.outputs {
            let image: [String: Any] = ["filename": output.filename, "subfolder": output.subfolder, "type": "output"]
            if let last = grouped.indices.last, grouped[last].0 == output.node {
                grouped[last].1.append(image)
            } else {
                grouped.append((output.node, [image]))
            }
        }
        return grouped
    }

    var queueRemaining: Int { jobs.withLock { $0.list.values.filter { $0.state != .done }.count } }

    static func errorData(_ job: Job) -> [String: Any] {
        [
            "prompt_id": job.id, "node_id": job.classes.first { $0.value.hasPrefix("KSampler") }?.key ?? "1",
            "node_type": "KSampler",
            "executed": [Any](), "exception_message": "CUDA out of memory (simulated)",
            "exception_type": "torch.OutOfMemoryError",
            "traceback": [Any](), "current_inputs": [String: Any](), "current_outputs": [Any](),
            "timestamp": job.endedAt,
        ]
    }

    func history(id: String) -> Response {
        guard let job = jobs.withLock({ $0.list[id] }), job.state == .done else { return Self.json([String: Any]()) }
        return Self.json([id: Self.historyEntry(job)])
    }

    /// One history entry: the queue item, outputs, status with timestamped messages, and `meta` per output.
    static func historyEntry(_ job: Job) -> [String: Any] {
        var outputs: [String: Any] = [:]
        var meta: [String: Any] = [:]
        if job.outcome == "execution_success" {
            for (node, images) in Self.imagesByNode(job) {
                outputs[node] = ["images": images]
                meta[node] = ["node_id": node, "display_node": node, "parent_node": NSNull(), "real_node_id": node]
            }
        }
        let success = job.outcome == "execution_success"
        return [
            "prompt": Self.queueEntry(job),
            "outputs": outputs,
            "status": [
                "status_str": success ? "success" : "error", "completed": success,
                "messages": [
                    ["execution_start", ["prompt_id": job.id, "timestamp": job.startedAt]],
                    ["execution_cached", ["nodes": [Any](), "prompt_id": job.id, "timestamp": job.startedAt]],
                    [job.outcome, Self.outcomeData(job)],
                ],
            ],
            "meta": meta,
        ]
    }

    /// `GET /history`: every finished prompt in the order they were queued; `max_items=N` keeps the last N,
    /// `offset=K` skips the first K (non-integers: 500, as in ComfyUI).
    func historyList(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        var maxItems: Int?
        var offset = 0
        if let text = query["max_items"] {
            guard let value = Int(String(text)) else { return Response(status: .internalServerError) }
            maxItems = value
        }
        if let text = query["offset"] {
            guard let value = Int(String(text)) else { return Response(status: .internalServerError) }
            offset = max(0, value)
        }
        var done = jobs.withLock { state in state.order.compactMap { state.list[$0] }.filter { $0.state == .done } }
        done = Array(done.dropFirst(offset))
        if let maxItems { done = Array(done.suffix(max(0, maxItems))) }
        var body: [String: Any] = [:]
        for job in done { body[job.id] = Self.historyEntry(job) }
        return Self.json(body)
    }

    /// `POST /history` with `{"clear": true}` or `{"delete": [ids]}`: finished prompts forgotten; 200, empty.
    func editHistory(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 16)
        guard let object = SimJSON.object(Data(buffer: body)) else { return Response(status: .internalServerError) }
        let ids = Set((object["delete"] as? [Any] ?? []).compactMap(SimJSON.string))
        let clear = SimJSON.bool(object["clear"]) == true
        jobs.withLock { state in
            for (id, job) in state.list where job.state == .done && (clear || ids.contains(id)) {
                state.list[id] = nil
                state.order.removeAll { $0 == id }
            }
        }
        return Response(status: .ok)
    }

    func view(_ request: Request) -> Response {
        let name = request.uri.queryParameters["filename"].map(String.init) ?? ""
        let known = jobs.withLock { $0.files.contains(name) }
        // Read from disk, as ComfyUI's /view does.
        guard known, !name.contains("/"),
            let bytes = FileManager.default.contents(
                atPath: outputFolder.appendingPathComponent(name).path)
        else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = "image/png"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `/object_info`, or `/object_info/{class}` with `only` (`{}` for a class that is not installed).
    func objectInfo(only: String? = nil) -> [String: Any] {
        var info: [String: Any] = [:]
        let models = self.models
        for name in classes where only == nil || only == name {
            var required: [String: Any] = [:]
            for (input, files) in models { required[input] = [files, [String: Any]()] }
            for (input, type) in Self.inputTypes where required[input] == nil { required[input] = [type, [:]] }
            info[name] = [
                "input": ["required": required], "name": name, "display_name": name,
                "output_node": Self.outputClasses.contains(name), "category": "sim",
            ]
        }
        return info
    }

    /// Output node classes (`OUTPUT_NODE = True`).
    static let outputClasses: Set<String> = ["SaveImage", "PreviewImage"]

    /// The declared type of the widget inputs the shipped graphs use; a value that does not convert is refused
    /// as ComfyUI's `validate_inputs` refuses it (`invalid_input_type`).
    static let inputTypes: [String: String] = [
        "steps": "INT", "seed": "INT", "noise_seed": "INT", "width": "INT", "height": "INT", "batch_size": "INT",
        "cfg": "FLOAT", "denoise": "FLOAT", "guidance": "FLOAT", "strength_model": "FLOAT", "strength_clip": "FLOAT",
        "lora_strength": "FLOAT", "text": "STRING", "filename_prefix": "STRING",
    ]

    /// ComfyUI's coercion of a widget value (`int(x)`, `float(x)`, `str(x)`), or the error it reports; a link
    /// (`[node id, output index]`) is not a widget value.
    static func typeError(_ name: String, _ value: Any, _ type: String) -> [String: Any]? {
        if let link = value as? [Any], link.count == 2 { return nil }
        // Numbers and booleans convert to any widget type (JSON numbers are finite); text only when it parses.
        let converts: Bool
        if SimJSON.number(value) != nil || SimJSON.bool(value) != nil {
            converts = true
        } else if let text = SimJSON.string(value) {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            converts =
                switch type {
                case "INT": Int(trimmed) != nil
                case "FLOAT": Double(trimmed) != nil
                default: true
                }
        } else {
            converts = false
        }
        guard !converts else { return nil }
        let shown = SimJSON.string(value) ?? SimJSON.text(value)
        let why =
            type == "INT"
            ? "invalid literal for int() with base 10: '\(shown)'" : "could not convert string to float: '\(shown)'"
        return [
            "type": "invalid_input_type", "message": "Failed to convert an input value to a \(type) value",
            "details": "\(name), \(shown), \(why)",
            "extra_info": ["input_name": name, "input_config": [type, [String: Any]()], "received_value": value],
        ]
    }

    /// Node ids in ComfyUI's order: numeric ids by value, others after them by text.
    static func idOrder(_ a: String, _ b: String) -> Bool {
        switch (Int(a), Int(b)) {
        case let (x?, y?): x < y
        case (_?, nil): true
        case (nil, _?): false
        default: a < b
        }
    }

    /// The order the executor runs the graph in: a node only after every node it takes a link from (ties in id
    /// order); nodes in a cycle, which ComfyUI refuses, come last in id order.
    static func executionOrder(_ graph: [String: Any]) -> [String] {
        var dependencies: [String: Set<String>] = [:]
        for (id, node) in graph {
            let inputs = (node as? [String: Any])?["inputs"] as? [String: Any] ?? [:]
            dependencies[id] = Set(
                inputs.values.compactMap { value in
                    guard let link = value as? [Any], link.count == 2, let source = link.first else { return nil }
                    let text = SimJSON.string(source) ?? SimJSON.number(source).map { String(Int($0)) }
                    return text.flatMap { graph[$0] != nil ? $0 : nil }
                })
        }
        var order: [String] = []
        var done = Set<String>()
        while order.count < dependencies.count {
            let ready = dependencies.keys.filter { !done.contains($0) && dependencies[$0]!.isSubset(of: done) }
            guard let next = ready.min(by: idOrder) else {
                order += dependencies.keys.filter { !done.contains($0) }.sorted(by: idOrder)
                break
            }
            order.append(next)
            done.insert(next)
        }
        return order
    }

    /// `[number, prompt_id, graph, extra_data, outputs_to_execute]`, as `/queue` and `/history` list a prompt.
    static func queueEntry(_ job: Job) -> [Any] {
        [
            job.number, job.id, (try? JSONSerialization.jsonObject(with: job.graph)) ?? [String: Any](),
            (try? JSONSerialization.jsonObject(with: job.extraData)) ?? [String: Any](), job.outputNodes,
        ]
    }

    func queue() -> Response {
        let (running, pending) = jobs.withLock { state -> ([Job], [Job]) in
            let items = state.order.compactMap { state.list[$0] }
            return (items.filter { $0.state == .running }, items.filter { $0.state == .pending })
        }
        return Self.json(["queue_running": running.map(Self.queueEntry), "queue_pending": pending.map(Self.queueEntry)])
    }

    /// `POST /queue` with `{"delete": [ids]}` (pending only) or `{"clear": true}`.
    func editQueue(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 16)
        guard let object = SimJSON.object(Data(buffer: body)) else { return Response(status: .internalServerError) }
        let ids = (object["delete"] as? [Any]).map { Set($0.compactMap(SimJSON.string)) }
        let clear = SimJSON.bool(object["clear"]) == true
        jobs.withLock { state in
            for id in ids ?? [] { state.stopRequests[id, default: 0] += 1 }
            for (id, job) in state.list where job.state == .pending && (clear || ids?.contains(id) == true) {
                state.list[id] = nil
                state.order.removeAll { $0 == id }
            }
        }
        return Response(status: .ok)
    }

    func interrupt(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 16)
        let target = SimJSON.object(Data(buffer: body)).flatMap { SimJSON.string($0["prompt_id"]) }
        jobs.withLock { state in
            if let target { state.stopRequests[target, default: 0] += 1 }
            for id in state.order where state.list[id]?.state == .running && (target == nil || target == id) {
                state.list[id]?.interruptRequested = true
            }
        }
        return Response(status: .ok)
    }

    // MARK: - Helpers

    static func refusal(_ type: String, _ message: String, _ nodeErrors: [String: Any]) -> Response {
        json(
            [
                "error": ["type": type, "message": message, "details": "", "extra_info": [String: Any]()],
                "node_errors": nodeErrors,
            ],
            status: .badRequest)
    }

    /// `/system_stats` as ComfyUI 0.3.64 answers on a CPU run: the system, and the device it computes on.
    static func systemStats() -> [String: Any] {
        let memory = Int(ProcessInfo.processInfo.physicalMemory)
        return [
            "system": [
                "os": "posix", "ram_total": memory, "ram_free": memory / 2, "comfyui_version": "0.3.64-sim",
                "python_version": "3.11.7 (simulated)", "pytorch_version": "2.8.0+cpu", "embedded_python": false,
                "argv": ["main.py", "--cpu"],
            ],
            "devices": [
                [
                    "name": "cpu", "type": "cpu", "index": NSNull(), "vram_total": memory, "vram_free": memory / 2,
                    "torch_vram_total": 0, "torch_vram_free": 0,
                ]
            ],
        ]
    }

    static func json(array value: [Any]) -> Response { jsonResponse(SimJSON.data(value), status: .ok) }

    static func json(_ value: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        jsonResponse(SimJSON.data(value), status: status)
    }

    private static func jsonResponse(_ data: Data, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension ComfySim {
    /// The Hummingbird application: the HTTP routes plus ComfyUI's WebSocket at `/ws?clientId=<id>`, which sends
    /// `status` (with `sid`) on connect and then the events of every prompt queued with that `client_id`.
    public func makeApplication(
        host: String = "127.0.0.1", port: Int, logger: Logger = Logger(label: "comfy-sim"),
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let events = self.events
        return Application(
            router: makeRouter(),
            server: .http1WebSocketUpgrade(
                configuration: .init(http1: .init(additionalChannelHandlers: [DropConnectionHandler(sim: self)]))
            ) { head, _, _ in
                guard let path = head.path,
                    ["/ws", "/api/ws"].contains(where: { path == $0 || path.hasPrefix($0 + "?") })
                else { return .dontUpgrade }
                let clientID =
                    URLComponents(string: path)?.queryItems?.first { $0.name == "clientId" }?.value
                    ?? UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
                return .upgrade([:]) { inbound, outbound, _ in
                    let (id, stream) = events.add(clientID: clientID)
                    let hello: [String: Any] = [
                        "type": "status",
                        "data": ["status": ["exec_info": ["queue_remaining": self.queueRemaining]], "sid": clientID],
                    ]
                    try await outbound.write(.text(SimJSON.text(hello)))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // The client closing (or going away) ends the socket's stream, which ends the writer.
                            defer { events.remove(clientID: clientID, id: id) }
                            for try await _ in inbound {}
                        }
                        for await text in stream { try await outbound.write(.text(text)) }
                        group.cancelAll()
                    }
                }
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "comfy-sim"),
            onServerRunning: onServerRunning, logger: logger)
    }
}
