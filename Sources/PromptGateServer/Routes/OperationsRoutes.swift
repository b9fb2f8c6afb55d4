import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PromptGateCore
import PromptGateDispatch

/// `/health` and `/openapi.json` (open), `/status` (behind the address allowlist; details for admin keys when
/// keys are on), `/metrics` (the allowlist, and `security.metrics_key` or an admin key when that is set), and
/// `/admin/reload` (admin key).
struct OperationsRoutes {
    let server: GateServer

    var open: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.health) { _, _ in JSONDocument(value: ["status": "ok"]) }
            .on(.openAPI) { _, _ in
                let preset = server.holder.current.presets[server.defaultPreset]
                return JSONDocument(value: OpenAPIDocument.document(preset: preset))
            }
    }

    var operations: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.status) { _, context in
                // With keys on, configuration and backends are for admin keys; others learn that it runs.
                let details = !server.config.security.enabled || context.caller.isAdmin
                return JSONDocument(value: details ? await status() : summary())
            }
    }

    var metricsRoutes: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.metrics) { _, _ in metrics() }
    }

    /// What `/status` tells a caller without an admin key when keys are on: that it runs, and since when.
    func summary() -> JSONValue {
        [
            "status": "ok", "version": .string(PromptGateVersion.current),
            "uptime_seconds": .number(Date().timeIntervalSince(server.startedAt).rounded()),
            "details": "configuration, queue and backends are shown to admin keys",
        ]
    }

    var admin: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.reload) { _, _ in try reload() }
    }

    func metrics() -> Response {
        server.metrics.observe(server.dispatch.dispatcher.snapshot)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: server.metrics.exposition())))
    }

    func reload() throws -> JSONDocument {
        switch server.reload() {
        case .success(let state):
            return JSONDocument(value: [
                "status": "reloaded", "rules": .number(Double(state.ruleCount)),
                "presets": .number(Double(state.presets.count)),
            ])
        case .failure(let error):
            throw ReloadError(reason: "\(error)")
        }
    }

    /// Which store holds the tasks: the SQLite file, or the PostgreSQL database (never its password).
    func storeStatus(_ settings: DispatchSettings) -> JSONValue {
        if let url = settings.storeURL, let location = try? PostgresTaskStore.Location(url: url),
            let shared = server.dispatch.dispatcher.store as? any SharedTaskStore
        {
            return [
                "kind": "postgresql", "database": .string(location.describe),
                "gateway_name": .string(shared.gateway.name),
                "lease_timeout_seconds": .number(shared.gateway.leaseTimeout.seconds),
            ]
        }
        return [
            "kind": "sqlite", "path": .string(settings.storePath),
            "synchronous": .string(settings.storeSynchronous.rawValue),
        ]
    }

    /// The gateways sharing the store, alive or not, with the runs whose leases each holds; null on a store
    /// only this gateway uses.
    func gatewaysStatus() async -> JSONValue {
        guard let shared = server.dispatch.dispatcher.store as? any SharedTaskStore else { return .null }
        let time = ISO8601DateFormatter()
        return .array(
            await shared.gateways().map { gateway in
                [
                    "name": .string(gateway.name), "this": .bool(gateway.name == shared.gateway.name),
                    "alive": .bool(gateway.alive), "started_at": .string(time.string(from: gateway.startedAt)),
                    "heartbeat_at": .string(time.string(from: gateway.heartbeatAt)),
                    "leases": .array(gateway.leases.map { .string($0) }),
                ]
            })
    }

    func status() async -> JSONValue {
        let gateways = await gatewaysStatus()
        let state = server.holder.current
        let config = server.config
        let security = config.security
        return [
            "version": .string(PromptGateVersion.current),
            "uptime_seconds": .number(Date().timeIntervalSince(server.startedAt).rounded()),
            "rules": .number(Double(state.ruleCount)),
            "presets": .array(state.presets.keys.sorted().map { .string($0) }),
            "default_preset": .string(server.defaultPreset),
            // What the bound workflow says about its model (every preset's `model` section gives way to it).
            "model": [
                "name": .string(server.model.name), "guidance": .string(server.model.guidance.rawValue),
                "true_cfg": .number(server.model.trueCFG), "negative_prompt": .bool(server.model.hasNegativeInput),
            ],
            "loaded_at": .string(ISO8601DateFormatter().string(from: state.loadedAt)),
            "config": [
                "source": .string(config.source),
                "listen": .string("\(config.server.host):\(config.server.port)"),
                "max_body_bytes": .number(Double(config.server.maxBodyBytes)),
                "auth": .bool(security.enabled),
                "api_keys": .array(security.apiKeys.map { .string($0.name) }),  // names only, never secrets
                "rate_limit": security.rateLimitEnabled
                    ? [
                        "requests_per_minute": .number(Double(security.rateLimit.requestsPerMinute)),
                        "burst": .number(Double(security.rateLimit.burst)),
                    ]
                    : .null,
                "ip_allowlist": .array(security.ipAllowlist.blocks.map { .string($0.description) }),
                "trusted_proxies": .array(security.trustedProxies.blocks.map { .string($0.description) }),
                "log_prompts": .bool(config.logging.logPrompts),
                "log_file": config.logging.file.map { .string($0) } ?? .null,
                "comfyui": .string(config.dispatch.baseURL),
                "store": storeStatus(config.dispatch),
                "cache": config.dispatch.cache.enabled
                    ? [
                        "backend": .string(
                            config.dispatch.cache.effectiveBackend(sharedStore: config.dispatch.storeURL != nil)
                                .rawValue),
                        "ttl_seconds": .number(Double(config.dispatch.cache.ttl.components.seconds)),
                    ]
                    : .null,
                "backend_strategy": .string(config.dispatch.backendStrategy.rawValue),
                "priority_levels": .number(Double(config.dispatch.priorityLevels)),
            ],
            "dispatch": dispatchStatus(),
            "gateways": gateways,
        ]
    }

    func dispatchStatus() -> JSONValue {
        let dispatcher = server.dispatch.dispatcher
        let snapshot = dispatcher.snapshot
        let settings = dispatcher.settings
        return [
            "workflow": .string(server.dispatch.workflowSource),
            "binding": .object(
                Dictionary(
                    uniqueKeysWithValues: dispatcher.binding.inputs.map { field, inputs in
                        (field.rawValue, JSONValue.array(inputs.map { .string($0.description) }))
                    })),
            "queue": [
                "high": .number(Double(snapshot.queued[.high] ?? 0)),
                "normal": .number(Double(snapshot.queued[.normal] ?? 0)),
                "low": .number(Double(snapshot.queued[.low] ?? 0)), "retry_wait": .number(Double(snapshot.delayed)),
                "running": .number(Double(snapshot.running)), "capacity": .number(Double(settings.maxQueueSize)),
                "max_concurrent": .number(Double(settings.maxConcurrent)),
            ],
            "average_run_seconds": .number(
                (dispatcher.estimator.average(workflow: dispatcher.workflowName) * 10).rounded() / 10),
            "backends": .array(snapshot.backends.map { Self.backendStatus($0.backend, $0.state, dispatcher) }),
        ]
    }

    /// One backend in `/status`: state, load, WebSocket, and why it gets no work (a stable code, a sentence,
    /// and ComfyUI's or libcurl's words as details).
    static func backendStatus(
        _ backend: BackendPool.Backend, _ state: BackendPool.State, _ dispatcher: Dispatcher
    ) -> JSONValue {
        let problem = state.problem
        let websocket: JSONValue =
            dispatcher.isListening(to: backend.name).map {
                .string($0 ? "connected" : "disconnected")
            } ?? "off"
        let object: [String: JSONValue] = [
            "name": .string(backend.name), "url": .string(backend.url), "state": .string(state.label),
            "in_flight": .number(Double(state.inFlight)), "max_in_flight": .number(Double(backend.maxInFlight)),
            "websocket": websocket,
            "reason": problem.map { .string($0.message) } ?? .null,
            "code": problem.map { .string($0.code) } ?? .null,
            "details": problem?.details ?? .null,
            // LoRA files presets name that this backend lacks: requests needing them run elsewhere.
            "missing_loras": .array(state.missingLoras.sorted().map { .string($0) }),
        ]
        return .object(object)
    }
}

/// A reload that failed; the previous rules and presets stay in use.
struct ReloadError: PromptGateError {
    var reason: String
    var code: String { "reload.failed" }
    var kind: ErrorKind { .invalidInput }
    var message: String { "reload failed; the previous rules and presets stay in use: \(reason)" }
}
