import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch

/// The generation routes: queue a task, read or cancel it, fetch its images.
extension GateServer {
    /// `POST /api/v1/generate`: access → policy → optimizers → queue → 202 with the task id.
    func generate(_ request: Request, context: GateRequestContext) async throws -> Response {
        let (prompt, includeTrace, state) = try await screen(request, context: context)
        if prompt.verdict.isBlocked {
            throw BlockedError(
                verdict: ModerationResponse(context: prompt, includeTrace: includeTrace),
                responseHeaders: prompt.rateLimit.map { [("RateLimit-Policy", $0.policyHeader), ("RateLimit", $0.stateHeader)] } ?? [])
        }
        let preset = state.presets[prompt.request.preset ?? config.defaultPreset]
        var task = GenerationTask(request: prompt.request, priority: prompt.request.priority ?? .normal)
        task.loras = prompt.request.loras.map { lora in
            WorkflowPatcher.LoraFile(file: preset?.loras.available[lora.name] ?? lora.name, weight: lora.weight)
        }
        task.model = preset?.model.name
        task.caller = prompt.caller?.name
        let submission = try dispatch.dispatcher.submit(task)
        context.log.task = task.id
        var body: [String: JSONValue] = [
            "task_id": .string(task.id), "status": "queued", "estimated_time": .number(Double(submission.estimatedSeconds)),
            "position": .number(Double(submission.position)), "priority": .string(task.priority.rawValue),
        ]
        if !prompt.warnings.isEmpty, let warnings = try? JSONValue(encoding: prompt.warnings) { body["warnings"] = warnings }
        var response = withRateLimitHeaders(Self.json(body, status: .accepted), prompt)
        response.headers[.location] = "/api/v1/task/\(task.id)"
        return response
    }

    /// `GET /api/v1/task/{id}`: status, position, progress, and the result or the error.
    func task(_ request: Request, context: GateRequestContext) async throws -> Response {
        let caller = try readCaller(request, context: context)
        let id = context.parameters.get("id") ?? ""
        guard let view = dispatch.dispatcher.view(id: id), visible(view.task, to: caller) else { throw DispatchError.notFound(id) }
        return Self.json(TaskResponse(view, imageBase: imageBase(request)))
    }

    /// `DELETE /api/v1/task/{id}`: a queued task leaves the queue, a running one is interrupted.
    func cancelTask(_ request: Request, context: GateRequestContext) async throws -> Response {
        let caller = try readCaller(request, context: context)
        let id = context.parameters.get("id") ?? ""
        guard let existing = dispatch.dispatcher.view(id: id), visible(existing.task, to: caller) else { throw DispatchError.notFound(id) }
        try await dispatch.dispatcher.cancel(id: id)
        guard let view = dispatch.dispatcher.view(id: id) else { throw DispatchError.notFound(id) }
        return Self.json(TaskResponse(view, imageBase: imageBase(request)))
    }

    /// `GET /output/{file}`: an image from the output folder; names outside its alphabet are refused before
    /// any file system access, so no path can leave the folder.
    func outputFile(_ request: Request, context: GateRequestContext) async throws -> Response {
        _ = try readCaller(request, context: context)
        let name = context.parameters.get("file") ?? ""
        guard let path = dispatch.dispatcher.output.file(named: name), let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(code: "output.not_found", httpStatus: 404, message: "no output file '\(name)'")
        }
        var headers = HTTPFields()
        headers[.contentType] = OutputFolder.contentType(for: name)
        headers[.cacheControl] = "private, max-age=86400, immutable"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The address and key checks (no rate limit) for reading tasks and images; the caller, when keys are on.
    func readCaller(_ request: Request, context: GateRequestContext) throws -> Caller? {
        let prompt = PromptContext(request: identity(request, context: context))
        do {
            try holder.current.readAccess.run(prompt)
        } catch let error as AccessError {
            metrics.refusedRequest(code: error.code)
            throw error
        }
        context.log.caller = prompt.caller?.name
        return prompt.caller
    }

    /// With API keys on, a task belongs to the key that queued it (admin keys see every task); others get 404.
    func visible(_ task: GenerationTask, to caller: Caller?) -> Bool {
        guard config.security.enabled, let owner = task.caller else { return true }
        return caller?.name == owner || caller?.isAdmin == true
    }

    /// `server.public_url`, or the scheme-less origin the client used (its Host header).
    func imageBase(_ request: Request) -> String {
        if let base = config.server.publicURL { return base }
        if let host = request.head.authority { return "http://\(host)" }
        return ""
    }

    func dispatchStatus() -> JSONValue {
        let dispatcher = dispatch.dispatcher
        let snapshot = dispatcher.snapshot
        return [
            "workflow": .string(dispatch.workflowSource),
            "binding": .object(Dictionary(uniqueKeysWithValues: dispatcher.binding.inputs.map { field, inputs in
                (field.rawValue, JSONValue.array(inputs.map { .string($0.description) }))
            })),
            "queue": [
                "high": .number(Double(snapshot.queued[.high] ?? 0)), "normal": .number(Double(snapshot.queued[.normal] ?? 0)),
                "low": .number(Double(snapshot.queued[.low] ?? 0)), "retry_wait": .number(Double(snapshot.delayed)),
                "running": .number(Double(snapshot.running)), "capacity": .number(Double(dispatcher.settings.maxQueueSize)),
                "max_concurrent": .number(Double(dispatcher.settings.maxConcurrent)),
            ],
            "average_run_seconds": .number((dispatcher.estimator.average(workflow: dispatcher.workflowName) * 10).rounded() / 10),
            "backends": .array(snapshot.backends.map { backend, state in
                [
                    "name": .string(backend.name), "url": .string(backend.url), "state": .string(state.label),
                    "in_flight": .number(Double(state.inFlight)), "max_in_flight": .number(Double(backend.maxInFlight)),
                    "websocket": dispatcher.isListening(to: backend.name).map { .string($0 ? "connected" : "disconnected") } ?? "off",
                    "reason": (state.ineligibleReason ?? state.lastError).map { .string($0) } ?? .null,
                ]
            }),
        ]
    }
}

/// A prompt the policy blocked on `/generate`: 422 with the verdict (reasons, spans) in `details`.
struct BlockedError: PromptGateError {
    var verdict: ModerationResponse
    /// The caller's rate-limit state, as on every answer.
    var responseHeaders: [(name: String, value: String)]
    var code: String { "policy.blocked" }
    var httpStatus: Int { 422 }
    var message: String {
        "the prompt was blocked by policy: " + verdict.reasons.filter { $0.action == .block }.map(\.ruleID).joined(separator: ", ")
    }
    var details: JSONValue? { try? JSONValue(encoding: verdict) }
}

/// An output file that does not exist (or a name that could not be one).
struct OutputError: PromptGateError {
    var code: String
    var httpStatus: Int
    var message: String
}

extension JSONValue {
    /// Any Encodable as a JSON value (for error details; not on a hot path).
    init(encoding value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: GateServer.encoder.encode(value))
    }
}
