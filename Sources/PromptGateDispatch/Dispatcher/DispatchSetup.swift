import Foundation
import Logging
import NIOPosix
import PromptGateCore
import ServiceLifecycle

/// The dispatcher as configuration describes it: the workflow (a file, or the bundled Nunchaku graph when
/// `workflow.path` is left at its default and no such file exists), its binding (inferred, then overridden
/// by `workflow.bindings`), the backends (`backends`, or `comfyui.base_url` alone) and their clients.
public struct DispatchSetup: Sendable {
    /// The dispatcher, ready to `run()`.
    public let dispatcher: Dispatcher
    /// Where the workflow came from (a path or `<bundled>/...`).
    public let workflowSource: String
    let threadPool: NIOThreadPool

    /// - Parameters:
    ///   - settings: the dispatch settings from configuration.
    ///   - models: `models.loras`, LoRA files every backend must have beside those the presets name.
    ///   - presets: the loaded presets (their LoRA files must be on every backend).
    ///   - source: the configuration file, named in errors.
    ///   - port: `server.port`, part of the gateway's default name on a shared store.
    ///   - observer: metrics.
    ///   - logger: where the dispatcher logs.
    /// - Throws: `ConfigError` naming `workflow.path`, `workflow.bindings`, `store.path` or `server.output_dir`
    ///   when the workflow cannot be read or bound, the database cannot be opened or the output folder made.
    public static func make(
        settings: DispatchSettings, models: [String] = [], presets: [String: Preset], source: String, port: Int = 0,
        bound: BoundWorkflow? = nil, observer: (any DispatchObserver)?, logger: Logger
    ) throws -> DispatchSetup {
        let bound = try bound ?? bind(settings: settings, source: source)
        let (workflow, workflowSource, binding) = (bound.workflow, bound.source, bound.binding)
        var settings = settings
        settings.requirements = requirements(models: models, presets: presets)
        let backends = settings.effectiveBackends
        let threadPool = NIOThreadPool(numberOfThreads: max(4, min(64, settings.maxConcurrent + 2 * backends.count)))
        threadPool.start()
        // ComfyUI sends a prompt's events to the socket with the prompt's client_id, and one id must not be shared
        // by two live sockets: one id per backend and process.
        let instance = UUID().uuidString.prefix(8).lowercased()
        let targets = backends.map { backend in
            let clientID = "\(settings.clientID)-\(backend.name)-\(instance)"
            return Dispatcher.Target(
                backend: backend,
                client: ComfyUIClient(
                    transport: CurlTransport(baseURL: backend.url, threadPool: threadPool), clientID: clientID,
                    requestTimeout: settings.requestTimeout),
                events: settings.websocket ? ComfyUIEvents(baseURL: backend.url, clientID: clientID) : nil)
        }
        func resultCache(_ cache: ResultCacheSettings, store: any TaskStore & ResultCache) -> (any ResultCache)? {
            guard cache.enabled else { return nil }
            switch cache.effectiveBackend(sharedStore: store is any SharedTaskStore) {
            case .memory: return MemoryResultCache()
            case .database: return store
            }
        }
        let store: any TaskStore & ResultCache
        do {
            if let url = settings.storeURL {
                // Connects at the first use; `serve` waits for it (`prepare`) before it listens.
                let gateway = GatewayIdentity(
                    name: settings.gatewayName ?? DispatchSettings.defaultGatewayName(port: port),
                    leaseTimeout: settings.leaseTimeout)
                store = PostgresTaskStore(
                    location: try PostgresTaskStore.Location(url: url), connectTimeout: settings.storeConnectTimeout,
                    gateway: gateway, logger: logger)
            } else {
                store = try SQLiteTaskStore(path: settings.storePath, synchronous: settings.storeSynchronous)
            }
        } catch {
            try? threadPool.syncShutdownGracefully()
            if let url = settings.storeURL { throw problem(source, "store.url", "\(url): \(error)") }
            throw problem(source, "store.path", "cannot open the task database \(settings.storePath): \(error)")
        }
        do {
            let dispatcher = try Dispatcher(
                settings: settings, workflow: workflow, binding: binding,
                workflowName: (workflowSource as NSString).lastPathComponent, targets: targets, store: store,
                cache: resultCache(settings.cache, store: store), observer: observer, logger: logger)
            return DispatchSetup(dispatcher: dispatcher, workflowSource: workflowSource, threadPool: threadPool)
        } catch {
            try? threadPool.syncShutdownGracefully()
            throw problem(
                source, "server.output_dir", "cannot create the output folder \(settings.outputDirectory): \(error)")
        }
    }

    /// A workflow read and bound: the graph, where it came from, and where each request field goes.
    public struct BoundWorkflow: Sendable {
        /// The graph.
        public var workflow: Workflow
        /// Its path, or `<bundled>/workflows/<name>`.
        public var source: String
        /// Where each request field goes.
        public var binding: WorkflowBinding
        /// What the bound graph says about its model (guidance, real CFG, negative input, model name).
        public var model: ModelProfile { binding.modelProfile(in: workflow) }
        /// The preset made for this workflow (used when `presets.default` is not given).
        public var defaultPreset: String { BundledWorkflows.preset(for: source) }
    }

    /// Reads `workflow.path` (or the bundled graph) and binds it: inferred, then `workflow.bindings` on top.
    /// - Throws: `ConfigError` naming `workflow.path` or `workflow.bindings`.
    public static func bind(settings: DispatchSettings, source: String) throws -> BoundWorkflow {
        let (workflow, workflowSource) = try loadWorkflow(settings.workflowPath, source: source)
        let binding: WorkflowBinding
        do {
            binding = try WorkflowBinding(inferringFrom: workflow).overriding(settings.bindings)
        } catch {
            // A graph the inference does not understand can still be bound entirely by hand.
            guard !settings.bindings.isEmpty else {
                throw problem(source, "workflow.path", "\(workflowSource): \(error.message)")
            }
            binding = WorkflowBinding(inputs: settings.bindings)
        }
        let problems = binding.problems(in: workflow)
        guard problems.isEmpty else {
            throw ConfigError(
                problems: problems.map {
                    LoadProblem(file: source, keyPath: "workflow.bindings", message: "\(workflowSource): \($0)")
                })
        }
        return BoundWorkflow(workflow: workflow, source: workflowSource, binding: binding)
    }

    /// What the presets may ask a backend for: every LoRA file a preset can resolve a name to, plus
    /// `models.loras` (file names only: ComfyUI lists LoRAs relative to its loras folder), and every sampler
    /// and scheduler a preset allows or defaults to.
    public static func requirements(models: [String], presets: [String: Preset]) -> BackendRequirements {
        var files = Set(presets.values.flatMap { $0.loras.available.values })
        for path in models { files.insert((path as NSString).lastPathComponent) }
        let samplers = Set(presets.values.flatMap { $0.limits.samplers + [$0.defaults.sampler] })
        let schedulers = Set(presets.values.flatMap { $0.limits.schedulers + [$0.defaults.scheduler] })
        return BackendRequirements(
            loraFiles: files.sorted(), samplers: samplers.sorted(), schedulers: schedulers.sorted())
    }

    static func loadWorkflow(_ path: String, source: String) throws -> (Workflow, String) {
        do {
            if FileManager.default.fileExists(atPath: path) { return (try Workflow(path: path), path) }
            let bundled =
                BundledWorkflows.named(path)
                ?? (path == DispatchSettings.defaultWorkflowPath
                    ? BundledWorkflows.named(BundledWorkflows.defaultName) : nil)
            guard let bundled else {
                throw ConfigError(problems: [
                    LoadProblem(
                        file: source, keyPath: "workflow.path",
                        message:
                            "cannot read \(path) (bundled workflows: \(BundledWorkflows.files.map(\.name).joined(separator: ", ")))"
                    )
                ])
            }
            let name = "<bundled>/workflows/" + bundled.name
            return (try Workflow(json: bundled.data, file: name), name)
        } catch let error as WorkflowError {
            throw ConfigError(problems: [LoadProblem(file: source, keyPath: "workflow.path", message: error.message)])
        }
    }

    static func problem(_ source: String, _ key: String, _ message: String) -> ConfigError {
        ConfigError(problems: [LoadProblem(file: source, keyPath: key, message: message)])
    }

    /// The start-up report: workflow, binding per field, binding warnings, backends.
    public var report: String {
        let backends = dispatcher.pool.backends.map { "  \($0.name) \($0.url) (max_in_flight \($0.maxInFlight))" }
            .joined(separator: "\n")
        let binding = dispatcher.binding.description.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        let warnings = dispatcher.binding.warnings.map { "\nwarning: \($0)" }.joined()
        return "workflow \(workflowSource)\nbinding:\n\(binding)\(warnings)\nbackends:\n\(backends)"
    }

    /// Stops the thread pool the ComfyUI calls run on (after the dispatcher has stopped).
    public func shutdown() async {
        try? await threadPool.shutdownGracefully()
    }
}

/// Runs the dispatcher until graceful shutdown (runs in flight are left to the backends), then stops its
/// thread pool.
public struct DispatchService: Service {
    let setup: DispatchSetup

    /// - Parameter setup: the dispatcher to run.
    public init(setup: DispatchSetup) { self.setup = setup }

    /// Runs until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await setup.dispatcher.run() }
        await setup.shutdown()
    }
}
