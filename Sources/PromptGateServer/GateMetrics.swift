import Prometheus
import PromptGateCore
import PromptGateDispatch
import Synchronization

/// The service's Prometheus metrics: requests by route and status, verdicts by decision and category, rule
/// hits, stage latency histograms, rate-limited and refused requests.
public final class GateMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry

    // MetricNameDescriptor is an immutable struct of strings that swift-prometheus does not mark Sendable.
    private nonisolated(unsafe) let requests: MetricNameDescriptor
    private nonisolated(unsafe) let verdicts: MetricNameDescriptor
    private nonisolated(unsafe) let categories: MetricNameDescriptor
    private nonisolated(unsafe) let ruleHits: MetricNameDescriptor
    private nonisolated(unsafe) let stageSeconds: MetricNameDescriptor
    private nonisolated(unsafe) let refused: MetricNameDescriptor
    private nonisolated(unsafe) let tasksEnded: MetricNameDescriptor
    private nonisolated(unsafe) let queueDepth: MetricNameDescriptor
    private nonisolated(unsafe) let backendUp: MetricNameDescriptor
    private nonisolated(unsafe) let backendInFlight: MetricNameDescriptor
    private nonisolated(unsafe) let backendEligible: MetricNameDescriptor
    private let waitSeconds: DurationHistogram
    private nonisolated(unsafe) let webhookAttempts: MetricNameDescriptor
    private let webhookSeconds: DurationHistogram
    private let runSeconds: DurationHistogram
    private let tasksRunning: Gauge
    private let openConnections: Gauge
    private nonisolated(unsafe) let closedConnections: MetricNameDescriptor
    private let sharedLimitFallbacks: Counter
    private nonisolated(unsafe) let claims: MetricNameDescriptor
    private let claimSeconds: DurationHistogram
    private static let taskBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(15), .seconds(30),
        .seconds(60), .seconds(120), .seconds(300), .seconds(900),
    ]
    private static let webhookBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2),
        .seconds(10), .seconds(30),
    ]
    private static let claimBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
    ]
    private static let buckets: [Duration] = [
        .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25),
    ]

    /// Metric handles by label values: the registry's own lookup validates names and help text on every call,
    /// which was a visible share of a request.
    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])

    private func counter(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)]) -> Counter {
        let key = descriptor.metricName + labels.map { "|\($0.0)=\($0.1)" }.joined()
        if let cached = counters.withLock({ $0[key] }) { return cached }
        let made = registry.makeCounter(descriptor: descriptor, labels: labels)
        counters.withLock { $0[key] = made }
        return made
    }

    private func histogram(stage: String) -> DurationHistogram {
        if let cached = histograms.withLock({ $0[stage] }) { return cached }
        let made = registry.makeDurationHistogram(
            descriptor: stageSeconds, labels: [("stage", stage)], buckets: Self.buckets)
        histograms.withLock { $0[stage] = made }
        return made
    }

    /// Metrics registered in `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        requests = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests by route and status")
        verdicts = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "policy", metricName: "verdicts", unitName: "total",
            helpText: "Verdicts by decision")
        categories = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "policy", metricName: "reasons", unitName: "total",
            helpText: "Block and flag reasons by category")
        ruleHits = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "policy", metricName: "rule_hits", unitName: "total",
            helpText: "Rule hits by rule id (topk() gives the top rules)")
        stageSeconds = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "pipeline", metricName: "stage_duration", unitName: "seconds",
            helpText: "Time spent in each pipeline stage")
        refused = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "access", metricName: "refused", unitName: "total",
            helpText: "Requests refused before policy, by reason (ip, auth, rate_limited)")
        tasksEnded = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "tasks", metricName: "ended", unitName: "total",
            helpText: "Tasks by terminal state (completed, failed, cancelled, expired)")
        queueDepth = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "queue", metricName: "depth", unitName: "",
            helpText: "Tasks waiting, by priority")
        backendUp = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "backend", metricName: "up",
            unitName: "", helpText: "1 when the backend passes its health checks")
        backendInFlight = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "backend", metricName: "in_flight",
            unitName: "", helpText: "Tasks running on the backend")
        backendEligible = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "backend", metricName: "eligible",
            unitName: "", helpText: "1 when the workflow validated against the backend's object_info")
        waitSeconds = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "tasks", metricName: "wait", unitName: "seconds",
                helpText: "Time tasks waited in the queue"),
            buckets: Self.taskBuckets)
        runSeconds = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "tasks", metricName: "run", unitName: "seconds",
                helpText: "Time of a run on a backend, fetching images included"),
            buckets: Self.taskBuckets)
        webhookAttempts = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "webhooks", metricName: "attempts", unitName: "total",
            helpText: "Webhook delivery attempts by outcome (delivered: a 2xx; failed: anything else)")
        webhookSeconds = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "webhooks", metricName: "attempt_duration", unitName: "seconds",
                helpText: "Time of one webhook delivery attempt, sending to answer"),
            buckets: Self.webhookBuckets)
        tasksRunning = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "tasks", metricName: "running", unitName: "",
                helpText: "Tasks running now"))
        openConnections = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "http", metricName: "open_connections",
                unitName: "", helpText: "Client connections open now"))
        closedConnections = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "http", metricName: "guard_closes", unitName: "total",
            helpText:
                "Connections the server closed before a handler answered, by code (server.busy, http.request_timeout, ...)"
        )
        sharedLimitFallbacks = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "access", metricName: "shared_rate_limit_fallbacks",
                unitName: "total",
                helpText: "Submissions rate-limited by this gateway alone because the shared state did not answer"))
        claims = MetricNameDescriptor(
            namespace: "promptgate", subsystem: "queue", metricName: "claims", unitName: "total",
            helpText:
                "Claims of a picked task by the store's answer (claimed; busy: no room across the gateways; gone: "
                + "taken elsewhere or cancelled)")
        claimSeconds = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "promptgate", subsystem: "queue", metricName: "claim_duration", unitName: "seconds",
                helpText: "Time of one claim in the task store (the transaction that moves a task to running)"),
            buckets: Self.claimBuckets)
        // Present from the start so dashboards see zeros rather than gaps.
        for reason in ["ip", "auth", "rate_limited"] {
            _ = registry.makeCounter(descriptor: refused, labels: [("reason", reason)])
        }
        for status in ["completed", "failed", "cancelled", "expired"] { _ = counter(tasksEnded, [("status", status)]) }
        for outcome in ["delivered", "failed"] { _ = counter(webhookAttempts, [("outcome", outcome)]) }
        for priority in Priority.allCases {
            _ = registry.makeGauge(descriptor: queueDepth, labels: [("priority", priority.rawValue)])
        }
    }

    /// Sets the gauges from the dispatcher's state (called before each scrape).
    func observe(_ snapshot: Dispatcher.Snapshot) {
        for priority in Priority.allCases {
            registry.makeGauge(descriptor: queueDepth, labels: [("priority", priority.rawValue)]).set(
                Double(snapshot.queued[priority] ?? 0))
        }
        tasksRunning.set(Double(snapshot.running))
        for (backend, state) in snapshot.backends {
            let labels = [("backend", backend.name)]
            registry.makeGauge(descriptor: backendUp, labels: labels).set(state.isDown ? 0.0 : 1.0)
            registry.makeGauge(descriptor: backendEligible, labels: labels).set(state.isAvailable ? 1.0 : 0.0)
            registry.makeGauge(descriptor: backendInFlight, labels: labels).set(Double(state.inFlight))
        }
    }

    func request(route: String, status: Int) {
        counter(requests, [("route", route), ("status", String(status))]).increment()
    }

    func verdict(_ context: PromptContext) {
        counter(verdicts, [("decision", context.verdict.decision.rawValue)]).increment()
        for reason in context.verdict.reasons {
            counter(categories, [("category", reason.category), ("action", reason.action.rawValue)]).increment()
            counter(ruleHits, [("rule", reason.ruleID)]).increment()
        }
        stages(context)
    }

    func stages(_ context: PromptContext) {
        for entry in context.trace {
            histogram(stage: entry.stage).recordNanoseconds(entry.nanoseconds)
        }
    }

    func refusedRequest(code: String) {
        let reason = code == "rate_limited" ? "rate_limited" : code.hasPrefix("auth.") ? "auth" : "ip"
        counter(refused, [("reason", reason)]).increment()
    }

    /// Counts a submission the local limiter decided alone (the database did not answer).
    func sharedRateLimitUnavailable() { sharedLimitFallbacks.increment() }

    /// Sets the open-connection gauge.
    func connections(open: Int) { openConnections.set(Double(open)) }

    /// Counts a connection the guard answered and closed itself (over the cap, too slow, unparsable).
    func guardClosed(code: String) { counter(closedConnections, [("code", code)]).increment() }

    /// Counts one webhook attempt and records how long it took.
    func webhookAttempt(outcome: String, seconds: Double) {
        counter(webhookAttempts, [("outcome", outcome)]).increment()
        webhookSeconds.record(.milliseconds(Int64((seconds * 1000).rounded())))
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

extension GateMetrics: DispatchObserver {
    /// Counts the start and records how long the task waited.
    public func taskStarted(_ task: GenerationTask, waited: Duration) {
        waitSeconds.record(waited)
    }

    /// Counts the claim by outcome and records how long the store took.
    public func taskClaimed(outcome: String, took: Duration) {
        counter(claims, [("outcome", outcome)]).increment()
        claimSeconds.record(took)
    }

    /// Counts the end by status and records how long the task ran.
    public func taskEnded(_ task: GenerationTask, ran: Duration?) {
        counter(tasksEnded, [("status", task.status.rawValue)]).increment()
        if task.status == .completed, let ran { runSeconds.record(ran) }
    }
}
