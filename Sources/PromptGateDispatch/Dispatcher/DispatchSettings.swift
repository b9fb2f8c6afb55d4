import Foundation
/// Everything the dispatcher is configured with, and the one place its defaults are declared: the `queue`,
/// `comfyui`, `workflow` and `backends` sections of config.yaml and `server.output_dir`. The server's
/// configuration reader fills it; `DispatchSetup` builds the dispatcher from it.
public struct DispatchSettings: Sendable {
    // MARK: queue

    /// Tasks running at once over all backends (each backend also has its own `max_in_flight`).
    public var maxConcurrent = 2
    /// Queued tasks; a full queue refuses new ones (429 `queue_full`).
    public var maxQueueSize = 100
    /// `queue.priority_levels`: 3 keeps high, normal and low apart; 2 serves normal and low alike; 1 ignores
    /// priorities (first come, first served).
    public var priorityLevels = 3
    /// One run's limit: past it the run is interrupted on the backend and the task fails.
    public var generationTimeout: Duration = .seconds(300)
    /// How long a task may wait in the queue before it expires.
    public var queueTimeout: Duration = .seconds(3600)
    /// How long ended tasks (and their images) are kept.
    public var taskRetention: Duration = .seconds(86400)
    /// Extra attempts after a retryable failure (backend unreachable, 5xx, lost contact).
    public var maxRetries = 3
    /// Wait before a retry is queued again.
    public var retryDelay: Duration = .seconds(10)
    /// A low-priority task that waited this long ranks like a fresh normal one (seconds).
    public var agingInterval: Double = 30
    /// Per tenant (API key name): its `max_running` and `max_queued` (`security.api_keys[]`).
    public var tenantLimits: [String: TenantLimits] = [:]

    // MARK: comfyui

    /// The single backend used when `backends` is empty.
    public var baseURL = "http://localhost:8188"
    /// Prefix of the `client_id` the dispatcher uses per backend.
    public var clientID = "promptgate"
    /// Health checks (`/system_stats`) per backend.
    public var healthInterval: Duration = .seconds(5)
    /// Failed checks in a row before a backend is marked down.
    public var failureThreshold = 3
    /// `comfyui.revalidate_interval`: how often an `up` backend's `/object_info` is checked again (a file
    /// deleted from a running server makes it ineligible within this time).
    public var revalidateInterval: Duration = .seconds(60)
    /// Limit for one HTTP call to ComfyUI.
    public var requestTimeout: Duration = .seconds(30)
    /// Listen on ComfyUI's WebSocket for progress and early completion (polling `/history` alone when false).
    public var websocket = true

    // MARK: workflow

    /// The `workflow.path` default; when no such file exists the bundled Nunchaku FLUX graph is used.
    public static let defaultWorkflowPath = "./flux_workflow_api.json"
    /// An API-format workflow file, or the name of a bundled one.
    public var workflowPath = DispatchSettings.defaultWorkflowPath
    /// `workflow.output_node`: class or node id whose outputs are the task's result; when no node matches,
    /// every saved output is.
    public var outputNode = "SaveImage"
    /// Explicit field → node inputs, overriding what is inferred from the graph.
    public var bindings: [WorkflowBinding.Field: [WorkflowBinding.Input]] = [:]

    // MARK: backends and files

    /// The ComfyUI servers; empty means one backend at `baseURL` with `maxConcurrent` slots.
    public var backends: [BackendPool.Backend] = []
    /// Where images fetched from the backends are written (served by `GET /output/{file}`).
    public var outputDirectory = "output"
    /// LoRA files, samplers and schedulers the presets may ask for; a backend that lacks one is ineligible.
    public var requirements = BackendRequirements()
    /// How a backend is picked among those with room (`gpu.strategy`).
    public var backendStrategy = BackendPool.Strategy.leastLoaded

    // MARK: cache

    /// `cache`: identical work done once.
    public var cache = ResultCacheSettings()

    // MARK: store

    /// `store.path`: the SQLite database tasks live in (`:memory:` keeps them in memory: tests only).
    public var storePath = "data/promptgate.sqlite"
    /// `store.url`: a `postgres://` URL; when set, tasks live in that PostgreSQL database instead of `storePath`.
    public var storeURL: String?
    /// `store.synchronous`: how hard a commit waits for the disk.
    public var storeSynchronous = SQLiteTaskStore.Synchronous.normal
    /// `store.gateway_name`: this gateway's name on the leases it holds in a shared (PostgreSQL) store; nil:
    /// `<host name>:<server.port>` (`:pid<n>` for an ephemeral port). A gateway restarted under the same name
    /// takes its own runs back at once; another name waits for `store.lease_timeout`.
    public var gatewayName: String?

    /// `<host name>:<port>`, or `<host name>:pid<n>` when the port is picked at start (0).
    public static func defaultGatewayName(port: Int) -> String {
        ProcessInfo.processInfo.hostName + ":" + (port == 0 ? "pid\(getpid())" : "\(port)")
    }
    /// `store.lease_timeout`: how long a gateway's runs stay its own after its last heartbeat (a heartbeat
    /// renews them every third of it); past it, another gateway takes them over.
    public var leaseTimeout: Duration = .seconds(30)
    /// `store.sync_interval`: how often a gateway on a shared store reads the whole queue again, besides the
    /// notices each change sends (LISTEN/NOTIFY), and looks for capacity other gateways freed.
    public var syncInterval: Duration = .seconds(5)

    // MARK: tuning (not in config.yaml)

    /// `/history` polling: the first look is immediate, the second waits `pollInterval.lowerBound`, later ones back off
    /// (doubling) up to the upper bound.
    public var pollInterval: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(500)
    /// How often a running prompt is looked for in the server's `/queue` while `/history` has nothing for it
    /// (a restarted ComfyUI forgets its queue; the task is then retried).
    public var presenceInterval: Duration = .seconds(2)
    /// How long a PostgreSQL store's first connection and migrations may take before every call fails
    /// (`PostgresTaskStore`'s `connectTimeout`); tests on a loaded box give it longer.
    public var storeConnectTimeout: Duration = .seconds(10)

    /// Every setting at its default.
    public init() {}

    /// The backends to use: `backends`, or the single `comfyui.base_url` one.
    public var effectiveBackends: [BackendPool.Backend] {
        backends.isEmpty ? [BackendPool.Backend(name: "default", url: baseURL, maxInFlight: maxConcurrent)] : backends
    }
}

/// What one tenant (API key) may hold of the shared queue and GPUs.
public struct TenantLimits: Sendable, Equatable {
    /// Its tasks running on backends at once, at most (nil: no limit of its own).
    public var maxRunning: Int?
    /// Its tasks waiting in the queue, at most; over it a submit is refused 429 `quota.queued` (nil: none).
    public var maxQueued: Int?

    /// - Parameters: the two caps (nil: none).
    public init(maxRunning: Int? = nil, maxQueued: Int? = nil) {
        self.maxRunning = maxRunning
        self.maxQueued = maxQueued
    }
}
