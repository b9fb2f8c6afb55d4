/// How the dispatcher queues and runs tasks (`queue` and `workflow` in config.yaml).
public struct DispatchSettings: Sendable {
    /// Tasks running at once over all backends (each backend also has its own `max_in_flight`).
    public var maxConcurrent = 2
    /// Queued tasks; a full queue refuses new ones (429 `queue_full`).
    public var maxQueueSize = 100
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
    /// Health checks (`/system_stats`) per backend.
    public var healthInterval: Duration = .seconds(5)
    /// Failed checks in a row before a backend is marked down.
    public var failureThreshold = 3
    /// A low-priority task that waited this long ranks like a fresh normal one (seconds).
    public var agingInterval: Double = 30
    /// Where images fetched from the backends are written (served by `GET /output/{file}`).
    public var outputDirectory = "output"
    /// `workflow.output_node`: class or node id whose outputs are the task's result; when no node matches,
    /// every saved output is.
    public var outputNode = "SaveImage"
    /// `/history` polling: the first look is immediate, the second waits `pollInterval.lowerBound`, later ones back off
    /// (doubling) up to the upper bound.
    public var pollInterval: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(500)
    /// How often a running prompt is looked for in the server's `/queue` while `/history` has nothing for it
    /// (a restarted ComfyUI forgets its queue; the task is then retried).
    public var presenceInterval: Duration = .seconds(2)
    /// LoRA files the presets may ask for; a backend that lacks one is ineligible.
    public var loraFiles: [String] = []

    public init() {}
}
