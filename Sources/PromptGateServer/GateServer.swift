import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch

/// The HTTP front door: the same pipeline as `promptgate filter`, with access stages in front, behind a
/// Hummingbird router. Built once from `ServiceConfig`; rules and presets reload without a restart.
public final class GateServer: Sendable {
    public let config: ServiceConfig
    public let holder: GateStateHolder
    public let metrics: GateMetrics
    /// The dispatcher behind `/api/v1/generate` (run it with `DispatchService`).
    public let dispatch: DispatchSetup
    let limiter: RateLimiter
    let startedAt = Date()
    let logger: Logger

    /// Every route with its methods (unknown route → 404, known route with another method → 405; the OpenAPI
    /// document lists exactly these).
    static let routes: [String: [HTTPRequest.Method]] = [
        "/api/v1/moderate": [.post], "/api/v1/generate": [.post], "/api/v1/task/{id}": [.get, .delete],
        "/output/{file}": [.get], "/health": [.get], "/status": [.get], "/metrics": [.get], "/openapi.json": [.get],
        "/admin/reload": [.post],
    ]

    public init(config: ServiceConfig, metrics: GateMetrics = GateMetrics(), logger: Logger = Logger(label: "promptgate")) throws {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        limiter = RateLimiter()
        let state = try GateState.build(config: config, limiter: limiter)
        holder = GateStateHolder(state)
        dispatch = try DispatchSetup.make(
            config: config, presets: state.presets, observer: metrics, logger: Logger(label: "promptgate.dispatch"))
    }

    /// Rebuilds rules and presets and swaps them in; on failure the old ones stay and the error says why.
    @discardableResult
    public func reload() -> Result<GateState, any Error> {
        do {
            let state = try GateState.build(config: config, limiter: limiter)
            holder.replace(with: state)
            logger.notice("reloaded rules and presets", metadata: ["rules": "\(state.ruleCount)", "presets": "\(state.presets.count)"])
            // New presets may name LoRA files the backends must have.
            let dispatcher = dispatch.dispatcher
            let files = DispatchSetup.loraFiles(config: config, presets: state.presets)
            Task { await dispatcher.updateLoraFiles(files) }
            return .success(state)
        } catch {
            logger.error("reload failed; keeping the previous rules and presets", metadata: ["error": "\(error)"])
            return .failure(error)
        }
    }

    /// The router with every route and middleware.
    public func makeRouter() -> Router<GateRequestContext> {
        let router = Router(context: GateRequestContext.self)
        // The access log wraps the error envelope, so refused and failed requests are logged and counted too.
        router.add(middleware: AccessLogMiddleware(metrics: metrics, logPrompts: config.logging.logPrompts))
        router.add(middleware: ErrorEnvelopeMiddleware(routes: Self.routes))
        router.post("/api/v1/moderate") { request, context in try await self.moderate(request, context: context) }
        router.post("/api/v1/generate") { request, context in try await self.generate(request, context: context) }
        router.get("/api/v1/task/{id}") { request, context in try await self.task(request, context: context) }
        router.delete("/api/v1/task/{id}") { request, context in try await self.cancelTask(request, context: context) }
        router.get("/output/{file}") { request, context in try await self.outputFile(request, context: context) }
        router.get("/health") { _, _ in Self.json(["status": "ok"] as [String: String]) }
        router.get("/status") { _, _ in Self.json(self.status()) }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            self.metrics.observe(self.dispatch.dispatcher.snapshot)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.exposition())))
        }
        router.get("/openapi.json") { _, _ in Self.json(OpenAPIDocument.document) }
        router.post("/admin/reload") { request, context in try await self.adminReload(request, context: context) }
        return router
    }

    /// The Hummingbird application on the configured address (`port` 0 picks a free one; `onServerRunning`
    /// learns the bound port).
    public func makeApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: "promptgate"),
            onServerRunning: onServerRunning, logger: logger)
    }

    // MARK: - Routes

    func moderate(_ request: Request, context: GateRequestContext) async throws -> Response {
        let (prompt, includeTrace, _) = try await screen(request, context: context)
        return withRateLimitHeaders(Self.json(ModerationResponse(context: prompt, includeTrace: includeTrace)), prompt)
    }

    /// Access (address, key, rate limit), then the body, then policy and the caller's preset: what
    /// `/moderate` answers and what `/generate` queues. Access comes first, so an unknown caller learns
    /// nothing about the body's validity. Returns the rules-and-presets snapshot it used, so the caller goes on
    /// with the same one even if a reload swaps it meanwhile.
    func screen(_ request: Request, context: GateRequestContext) async throws -> (PromptContext, includeTrace: Bool, state: GateState) {
        let identity = identity(request, context: context)
        let prompt = PromptContext(request: identity)
        let includeTrace = request.uri.query != nil && (request.uri.queryParameters["trace"].map { $0 == "1" || $0 == "true" } ?? false)
        prompt.recordsNotes = includeTrace
        let state = holder.current
        do {
            try state.access.run(prompt)
        } catch let error as AccessError {
            metrics.refusedRequest(code: error.code)
            var refusal = error
            if let limit = prompt.rateLimit {
                refusal.headers += [("RateLimit-Policy", limit.policyHeader), ("RateLimit", limit.stateHeader)]
            }
            throw refusal
        }
        let body = try await request.body.collect(upTo: config.server.maxBodyBytes)
        var parsed = try PromptRequest(json: Self.decodeObject(body))
        parsed.ip = identity.ip
        parsed.apiKey = identity.apiKey
        parsed.preset = parsed.preset ?? prompt.caller?.preset
        prompt.request = parsed
        context.log.prompt = parsed.prompt
        context.log.caller = prompt.caller?.name
        try state.pipelines.pipeline(for: prompt.request).run(prompt)
        metrics.verdict(prompt)
        context.log.decision = prompt.verdict.decision.rawValue
        return (prompt, includeTrace, state)
    }

    func withRateLimitHeaders(_ response: Response, _ prompt: PromptContext) -> Response {
        guard let limit = prompt.rateLimit else { return response }
        var response = response
        response.headers[HTTPField.Name("RateLimit-Policy")!] = limit.policyHeader
        response.headers[HTTPField.Name("RateLimit")!] = limit.stateHeader
        return response
    }

    func adminReload(_ request: Request, context: GateRequestContext) async throws -> Response {
        guard let presented = presentedKey(request) else {
            throw AccessError.unauthorized("auth.missing_key", "an admin API key is required")
        }
        guard let key = APIKeyStore(keys: config.security.apiKeys).authenticate(presented) else {
            throw AccessError.unauthorized("auth.invalid_key", "the API key is not valid")
        }
        guard key.isAdmin else {
            throw AccessError(code: "auth.not_admin", httpStatus: 403, message: "key '\(key.name)' is not an admin key", headers: [])
        }
        switch reload() {
        case .success(let state):
            let body: [String: JSONValue] = [
                "status": "reloaded", "rules": .number(Double(state.ruleCount)), "presets": .number(Double(state.presets.count)),
            ]
            return Self.json(body)
        case .failure(let error):
            return ErrorEnvelope.response(
                status: .unprocessableContent, code: "reload.failed",
                message: "reload failed; the previous rules and presets stay in use: \(error)")
        }
    }

    func status() -> [String: JSONValue] {
        let state = holder.current
        let security = config.security
        return [
            "version": .string(PromptGateVersion.current),
            "uptime_seconds": .number(Date().timeIntervalSince(startedAt).rounded()),
            "rules": .number(Double(state.ruleCount)),
            "presets": .array(state.presets.keys.sorted().map { .string($0) }),
            "default_preset": .string(config.defaultPreset),
            "loaded_at": .string(ISO8601DateFormatter().string(from: state.loadedAt)),
            "config": [
                "source": .string(config.source),
                "listen": .string("\(config.server.host):\(config.server.port)"),
                "max_body_bytes": .number(Double(config.server.maxBodyBytes)),
                "auth": .bool(security.enabled),
                "api_keys": .array(security.apiKeys.map { .string($0.name) }),  // names only, never secrets
                "rate_limit": security.rateLimitEnabled
                    ? ["requests_per_minute": .number(Double(security.rateLimit.requestsPerMinute)), "burst": .number(Double(security.rateLimit.burst))]
                    : .null,
                "ip_allowlist": .array(security.ipAllowlist.blocks.map { .string($0.description) }),
                "trusted_proxies": .array(security.trustedProxies.blocks.map { .string($0.description) }),
                "log_prompts": .bool(config.logging.logPrompts),
                "comfyui": .string(config.comfyui.baseURL),
            ],
            "dispatch": dispatchStatus(),
        ]
    }

    // MARK: - Helpers

    /// Who is asking, before the body is read: the client address and the API key presented (if any).
    func identity(_ request: Request, context: GateRequestContext) -> PromptRequest {
        PromptRequest(prompt: "", ip: clientAddress(request, context: context), apiKey: presentedKey(request))
    }

    /// The key from `Authorization: Bearer` or `X-API-Key`.
    func presentedKey(_ request: Request) -> String? {
        APIKeyStore.presentedKey(authorization: request.headers[.authorization], apiKeyHeader: request.headers[HTTPField.Name("X-API-Key")!])
    }

    /// The client address: the socket peer, or the right-most untrusted X-Forwarded-For entry when the peer
    /// is a trusted proxy.
    func clientAddress(_ request: Request, context: GateRequestContext) -> String? {
        guard let peerText = context.remoteAddress?.ipAddress, let peer = IPAddress(peerText) else { return nil }
        guard !config.security.trustedProxies.isEmpty else { return peer.description }
        let forwarded = request.headers[values: HTTPField.Name("X-Forwarded-For")!]
        switch ClientAddress.resolve(peer: peer, forwardedFor: forwarded, trustedProxies: config.security.trustedProxies) {
        case .client(let address): return address.description
        case .malformed(let entry): return "malformed:\(entry)"
        }
    }

    static func decodeObject(_ body: ByteBuffer) throws -> [String: JSONValue] {
        let data = Data(body.readableBytesView)
        if let typed = try? decoder.decode(RequestBody.self, from: data) { return typed.object }
        let value: JSONValue
        do {
            value = try decoder.decode(JSONValue.self, from: data)
        } catch {
            throw BodyError(code: "request.malformed_json", httpStatus: 400, message: "the request body is not valid JSON")
        }
        guard case .object(let object) = value else {
            throw BodyError(code: "request.wrong_type", httpStatus: 422, message: "the request body must be a JSON object, found \(value.typeName)")
        }
        return object
    }

    /// One encoder for every response (JSONEncoder is safe to share while its options stay unchanged);
    /// keys are not sorted, which costs time on every object.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
    static let decoder = JSONDecoder()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A body that is not JSON (400) or not an object (422).
struct BodyError: PromptGateError {
    var code: String
    var httpStatus: Int
    var message: String
}
