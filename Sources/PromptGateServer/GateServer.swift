import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
import Synchronization

/// The HTTP front door as a Hummingbird application: route collections per resource (`Routes/`), each
/// group behind its access middleware, the error envelope and the access log around everything. The
/// routes come from `Endpoint`, the one route table. Built once from `ServiceConfig`; rules and presets
/// reload without a restart.
public final class GateServer: Sendable {
    /// The configuration it runs with.
    public let config: ServiceConfig
    /// The current rules, presets and access rules.
    public let holder: GateStateHolder
    /// Its Prometheus metrics.
    public let metrics: GateMetrics
    /// The dispatcher behind `/api/v1/generate` (run it with `DispatchService`).
    public let dispatch: DispatchSetup
    let limiter: RateLimiter
    /// Requests taken ahead from the shared rate-limit state (several gateways on one store).
    let reservations = SharedRateLimitReservations()
    /// Wrong keys per client address (always on, whatever `security.rate_limit.enabled` says).
    let authFailures = RateLimiter()
    /// Client connections open now, counted by the connection guard.
    let connections = ConnectionCount()
    /// Idempotency keys whose first request is being accepted now.
    let idempotencyInFlight = IdempotencyInFlight()
    let startedAt = Date()
    /// The port the HTTP server bound (known once it runs; `server.port` 0 picks one).
    let boundPort = Mutex<Int?>(nil)
    let logger: Logger
    /// The HTTP event loops: `server.workers` threads, or NIO's shared one-per-core group when unset. Made once,
    /// for the process's life.
    let eventLoops: any EventLoopGroup
    /// The preset requests use when neither they nor their key name one: `presets.default`, else the workflow's.
    public let defaultPreset: String
    /// What the bound workflow says about its model; every preset's `model` section gives way to it.
    public let model: ModelProfile

    /// - Parameters:
    ///   - config: the service configuration.
    ///   - metrics: where metrics go.
    ///   - logger: the server's logger.
    /// - Throws: when rules, presets or the workflow do not load.
    public init(
        config: ServiceConfig, metrics: GateMetrics = GateMetrics(), logger: Logger = Logger(label: "promptgate")
    ) throws {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        limiter = RateLimiter()
        eventLoops =
            config.server.workers.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
            ?? MultiThreadedEventLoopGroup.singleton
        let bound = try DispatchSetup.bind(settings: config.dispatch, source: config.source)
        model = bound.model
        defaultPreset = config.defaultPreset ?? bound.defaultPreset
        let state = try GateState.build(
            config: config, limiter: limiter, authFailures: authFailures, defaultPreset: defaultPreset, model: model)
        holder = GateStateHolder(state)
        dispatch = try DispatchSetup.make(
            settings: config.dispatch, models: config.models, presets: state.presets, source: config.source,
            port: config.server.port, bound: bound, observer: metrics, logger: Logger(label: "promptgate.dispatch"))
    }

    /// Rebuilds rules and presets and swaps them in; on failure the old ones stay and the error says why.
    @discardableResult
    public func reload() -> Result<GateState, any Error> {
        do {
            let state = try GateState.build(
                config: config, limiter: limiter, authFailures: authFailures, defaultPreset: defaultPreset, model: model
            )
            holder.replace(with: state)
            logger.notice(
                "reloaded rules and presets",
                metadata: ["rules": "\(state.ruleCount)", "presets": "\(state.presets.count)"])
            // New presets may name LoRA files, samplers or schedulers the backends must have.
            let dispatcher = dispatch.dispatcher
            let requirements = DispatchSetup.requirements(models: config.models, presets: state.presets)
            Task { await dispatcher.updateRequirements(requirements) }
            return .success(state)
        } catch {
            logger.error("reload failed; keeping the previous rules and presets", metadata: ["error": "\(error)"])
            return .failure(error)
        }
    }

    /// The router: every route group with its access middleware.
    public func makeRouter() -> Router<GateRequestContext> {
        let router = Router(context: GateRequestContext.self)
        router.add(middleware: HeadMiddleware())
        // The access log wraps the error envelope, so refused and failed requests are logged and counted too.
        router.add(middleware: AccessLogMiddleware(metrics: metrics, logPrompts: config.logging.logPrompts))
        router.add(middleware: ErrorEnvelopeMiddleware())
        let prompts = PromptRoutes(server: self), tasks = TaskRoutes(server: self),
            operations = OperationsRoutes(server: self)
        let collections: [(RouteGroup, RouteCollection<GateRequestContext>)] = [
            (.prompts, prompts.collection), (.taskList, tasks.taskList), (.tasks, tasks.tasks),
            (.outputs, tasks.outputs),
            (.admin, operations.admin),
            (.operations, operations.operations), (.metrics, operations.metricsRoutes), (.open, operations.open),
        ]
        for (group, routes) in collections {
            if let level = group.access {
                router.group(RouterPath(group.prefix))
                    .add(
                        middleware: AccessMiddleware(
                            level: level, holder: holder, trustedProxies: config.security.trustedProxies,
                            metrics: metrics, sharedLimits: dispatch.dispatcher.store as? any SharedRateLimitState,
                            reservations: reservations)
                    )
                    .addRoutes(routes)
            } else {
                router.addRoutes(routes, atPath: RouterPath(group.prefix))
            }
        }
        return router
    }

    /// Client connections open now.
    var openConnectionCount: Int { connections.current }

    /// Where `response_format: base64` images are read from, and the cap on them.
    var inline: TaskResponse.Inline {
        TaskResponse.Inline(folder: dispatch.dispatcher.output, maxBytes: config.server.maxInlineBytes)
    }

    /// Where image URLs point when no request says which host was used (webhook bodies): `server.public_url`,
    /// else this server's own address.
    var publicBase: String {
        if let base = config.server.publicURL { return base }
        let host = config.server.host.contains(":") ? "[\(config.server.host)]" : config.server.host
        return "http://\(host):\(boundPort.withLock { $0 } ?? config.server.port)"
    }

    /// The connection limits the guard enforces: `server.*`, with the connection cap fitted to the open-file
    /// limit (a configured cap above what it allows is lowered, with a warning).
    func connectionLimits() -> ConnectionLimits {
        let openFiles = SystemLimits.openFileLimit()
        let (cap, lowered) = SystemLimits.connectionCap(configured: config.server.maxConnections, openFiles: openFiles)
        if lowered {
            logger.warning(
                "server.max_connections lowered to fit the open-file limit",
                metadata: [
                    "configured": "\(config.server.maxConnections ?? 0)", "max_connections": "\(cap)",
                    "open_files": "\(openFiles)", "reserved": "\(SystemLimits.reservedDescriptors)",
                ])
        }
        return ConnectionLimits(
            maxConnections: cap, idleTimeout: config.server.idleTimeout, requestTimeout: config.server.requestTimeout,
            maxBodyBytes: config.server.maxBodyBytes)
    }

    /// The Hummingbird application on the configured address (`port` 0 picks a free one; `onServerRunning`
    /// learns the bound port), every connection behind the guard (`ConnectionGuard.swift`).
    public func makeApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let limits = connectionLimits()
        let backlog = SystemLimits.backlog(configured: config.server.backlog)
        logger.notice(
            "connection limits",
            metadata: [
                "max_connections": "\(limits.maxConnections)", "open_files": "\(SystemLimits.openFileLimit())",
                "backlog": "\(backlog)", "somaxconn": "\(SystemLimits.somaxconn().map(String.init) ?? "unknown")",
                "idle_timeout_s": "\(limits.idleTimeout.components.seconds)",
                "request_timeout_s": "\(limits.requestTimeout.components.seconds)",
            ])
        let count = connections, metrics = metrics, logger = logger
        return Application(
            router: makeRouter(),
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(
                    responder: responder, limits: limits, count: count, metrics: metrics, logger: logger)
            },
            configuration: .init(
                address: .hostname(config.server.host, port: config.server.port), serverName: "promptgate",
                backlog: backlog),
            onServerRunning: { channel in
                self.boundPort.withLock { $0 = channel.localAddress?.port }
                await onServerRunning(channel)
            }, eventLoopGroupProvider: .shared(eventLoops), logger: logger)
    }
}
