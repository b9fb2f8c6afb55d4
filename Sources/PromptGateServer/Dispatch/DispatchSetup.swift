import Foundation
import Logging
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import ServiceLifecycle

/// The dispatcher as configuration describes it: the workflow (a file, or the bundled Nunchaku graph when
/// `workflow.path` is left at its default and no such file exists), its binding (inferred, then overridden
/// by `workflow.bindings`), the backends (`backends`, or `comfyui.base_url` alone) and the queue settings.
public struct DispatchSetup: Sendable {
    public let dispatcher: Dispatcher
    /// Where the workflow came from (a path or `<bundled>/...`).
    public let workflowSource: String
    let threadPool: NIOThreadPool

    /// - Throws: `ConfigError` naming `workflow.path` or `workflow.bindings` when the workflow cannot be
    ///   read or bound.
    public static func make(
        config: ServiceConfig, presets: [String: Preset], observer: (any DispatchObserver)?, logger: Logger
    ) throws -> DispatchSetup {
        let (workflow, source) = try loadWorkflow(config.workflow.path, source: config.source)
        let binding: WorkflowBinding
        do {
            binding = try WorkflowBinding(inferringFrom: workflow).overriding(config.workflow.bindings)
        } catch {
            // A graph the inference does not understand can still be bound entirely by hand.
            guard !config.workflow.bindings.isEmpty else { throw problem(config, "workflow.path", "\(source): \(error.message)") }
            binding = WorkflowBinding(inputs: config.workflow.bindings)
        }
        let problems = binding.problems(in: workflow)
        guard problems.isEmpty else {
            throw ConfigError(problems: problems.map { LoadProblem(file: config.source, keyPath: "workflow.bindings", message: "\(source): \($0)") })
        }
        var settings = DispatchSettings()
        let queue = config.queue
        settings.maxConcurrent = queue.maxConcurrent
        settings.maxQueueSize = queue.maxQueueSize
        settings.generationTimeout = .seconds(queue.generationTimeout)
        settings.queueTimeout = .seconds(queue.queueTimeout)
        settings.maxRetries = queue.maxRetries
        settings.retryDelay = .seconds(queue.retryDelay)
        settings.taskRetention = .seconds(queue.taskRetention)
        settings.healthInterval = .milliseconds(Int64(config.comfyui.healthInterval * 1000))
        settings.failureThreshold = config.comfyui.failureThreshold
        settings.outputDirectory = config.server.outputDir
        settings.outputNode = config.workflow.outputNode
        settings.loraFiles = loraFiles(config: config, presets: presets)

        let backends =
            config.backends.isEmpty
            ? [BackendPool.Backend(name: "default", url: config.comfyui.baseURL, maxInFlight: queue.maxConcurrent)]
            : config.backends
        let threadPool = NIOThreadPool(numberOfThreads: max(4, min(64, queue.maxConcurrent + 2 * backends.count)))
        threadPool.start()
        let timeout = Duration.milliseconds(Int64(config.comfyui.requestTimeout * 1000))
        // ComfyUI sends a prompt's events to the socket with the prompt's client_id, and one id must not be shared
        // by two live sockets: one id per backend and process.
        let instance = UUID().uuidString.prefix(8).lowercased()
        let targets = backends.map { backend in
            let clientID = "\(config.comfyui.clientID)-\(backend.name)-\(instance)"
            return Dispatcher.Target(
                backend: backend,
                client: ComfyUIClient(
                    transport: CurlTransport(baseURL: backend.url, threadPool: threadPool), clientID: clientID, requestTimeout: timeout),
                events: config.comfyui.websocket ? ComfyUIEvents(baseURL: backend.url, clientID: clientID) : nil)
        }
        do {
            let dispatcher = try Dispatcher(
                settings: settings, workflow: workflow, binding: binding, workflowName: (source as NSString).lastPathComponent,
                targets: targets, observer: observer, logger: logger)
            return DispatchSetup(dispatcher: dispatcher, workflowSource: source, threadPool: threadPool)
        } catch {
            try? threadPool.syncShutdownGracefully()
            throw problem(config, "server.output_dir", "cannot create the output folder \(config.server.outputDir): \(error)")
        }
    }

    /// Every LoRA file a preset can resolve a name to, plus `models.loras` (file names only: ComfyUI lists
    /// LoRAs relative to its loras folder).
    static func loraFiles(config: ServiceConfig, presets: [String: Preset]) -> [String] {
        var files = Set(presets.values.flatMap { $0.loras.available.values })
        for path in config.models.loras { files.insert((path as NSString).lastPathComponent) }
        return files.sorted()
    }

    static func loadWorkflow(_ path: String, source: String) throws -> (Workflow, String) {
        do {
            if FileManager.default.fileExists(atPath: path) { return (try Workflow(path: path), path) }
            let bundled = BundledWorkflows.named(path) ?? (path == ServiceConfig.Workflow.defaultPath ? BundledWorkflows.named(BundledWorkflows.defaultName) : nil)
            guard let bundled else {
                throw ConfigError(problems: [
                    LoadProblem(
                        file: source, keyPath: "workflow.path",
                        message: "cannot read \(path) (bundled workflows: \(BundledWorkflows.files.map(\.name).joined(separator: ", ")))")
                ])
            }
            let name = "<bundled>/workflows/" + bundled.name
            return (try Workflow(json: bundled.data, file: name), name)
        } catch let error as WorkflowError {
            throw ConfigError(problems: [LoadProblem(file: source, keyPath: "workflow.path", message: error.message)])
        }
    }

    static func problem(_ config: ServiceConfig, _ key: String, _ message: String) -> ConfigError {
        ConfigError(problems: [LoadProblem(file: config.source, keyPath: key, message: message)])
    }

    /// The start-up report: workflow, binding per field, backends.
    public var report: String {
        let backends = dispatcher.pool.backends.map { "  \($0.name) \($0.url) (max_in_flight \($0.maxInFlight))" }.joined(separator: "\n")
        let binding = dispatcher.binding.description.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        return "workflow \(workflowSource)\nbinding:\n\(binding)\nbackends:\n\(backends)"
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

    public init(setup: DispatchSetup) { self.setup = setup }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { await setup.dispatcher.run() }
        await setup.shutdown()
    }
}
