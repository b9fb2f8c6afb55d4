import Foundation
import Hummingbird
import PromptGateCore
import PromptGateDispatch

/// `/api/v1/moderate` and `/api/v1/generate`: one chain each, read as decode → run → render. The caller is
/// already decided by the group's access middleware; the body is decoded once into the request schema;
/// the preset's pipeline (policy, then optimizers) runs; `generate` then hands the result to the
/// dispatcher, the chain's last stage.
struct PromptRoutes {
    let server: GateServer

    var collection: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.moderate) { request, context in try await moderate(request, context: context) }
            .on(.generate) { request, context in try await generate(request, context: context) }
    }

    func moderate(_ request: Request, context: GateRequestContext) async throws -> ModerationResponse {
        let screened = try await screen(request, body: try await collect(request.body), context: context)
        return ModerationResponse(context: screened.prompt, includeTrace: screened.includeTrace)
    }

    /// Screens and queues; with an `Idempotency-Key`, a retry of an accepted request gets the first answer
    /// (`Idempotent-Replayed: true`) instead of a second task. Only accepted requests bind a key: a refused one
    /// (blocked, invalid, queue full) may be sent again with the same key. With a wait (`WaitPreference`), the
    /// answer is held until the task ends (200 with the task, as `GET /api/v1/task/{id}` shows it) or the wait
    /// runs out (the usual 202). A client that disconnects while waiting leaves its task alone, unless the
    /// request said `cancel_on_disconnect: true`.
    func generate(_ request: Request, context: GateRequestContext) async throws -> Response {
        guard let wait = try WaitPreference(request, limit: server.config.server.maxWait) else {
            return try await accept(request, body: try await collect(request.body), context: context).response
        }
        let disconnection = Disconnection()
        return try await request.body.consumeWithInboundCloseHandler(
            { body in
                let body = try await collect(body)
                let accepted = try await accept(request, body: body, context: context)
                return await finish(accepted, waiting: wait, request: request, body: body, disconnection: disconnection)
            },
            onInboundClosed: { disconnection.close() })
    }

    /// A generate's answer before any wait: the response and the task it names.
    private struct Accepted {
        var response: Response
        var taskID: String
        /// Replayed from an earlier request with the same `Idempotency-Key`.
        var replayed: Bool
    }

    private func accept(_ request: Request, body: ByteBuffer, context: GateRequestContext) async throws -> Accepted {
        guard let key = try IdempotencyKey(request, caller: context.caller) else {
            return try await submit(request, body: body, key: nil, context: context)
        }
        let store = server.dispatch.dispatcher.store
        if let replay = try await replay(key, body: body, store: store) { return replay }
        guard server.idempotencyInFlight.claim(key) else { throw IdempotencyError.inProgress }
        defer { server.idempotencyInFlight.release(key) }
        // Accepted by another gateway, or just before the claim.
        if let replay = try await replay(key, body: body, store: store) { return replay }
        do {
            return try await submit(request, body: body, key: key, context: context)
        } catch let error as DispatchError where error.code == "idempotency.duplicate" {
            if let replay = try await replay(key, body: body, store: store) { return replay }
            throw IdempotencyError.inProgress
        }
    }

    /// Holds an accepted answer until its task ends or `wait` runs out. On a disconnect the wait stops, and the
    /// task is cancelled when the request asked for it.
    private func finish(
        _ accepted: Accepted, waiting wait: WaitPreference, request: Request, body: ByteBuffer,
        disconnection: Disconnection
    ) async -> Response {
        let dispatcher = server.dispatch.dispatcher
        let id = accepted.taskID
        let cancelOnDisconnect = (try? Self.decode(body))?.cancelOnDisconnect == true
        let waiting = Task { await dispatcher.waitForEnd(id: id, upTo: .seconds(wait.seconds)) }
        disconnection.onClose {
            waiting.cancel()
            // Not bound to the request: the cancel completes although nobody reads the answer.
            if cancelOnDisconnect { Task { _ = try? await dispatcher.cancel(id: id) } }
        }
        var response = accepted.response
        let ended = await withTaskCancellationHandler {
            await waiting.value
        } onCancel: {
            waiting.cancel()
        }
        if let ended {
            var headers: HTTPFields = [.location: "/api/v1/task/\(id)"]
            if accepted.replayed { headers[IdempotencyKey.replayedHeader] = "true" }
            let shown = TaskResponse(
                dispatcher.view(of: ended), imageBase: TaskRoutes(server: server).imageBase(request),
                inline: await server.inline.load(ended))
            response = JSONBody.response(shown, status: .ok, headers: headers)
        }
        for field in wait.appliedHeader { response.headers.append(field) }
        // Watching for the client's close consumed the connection's inbound side: it closes after this answer.
        response.headers[.connection] = "close"
        return response
    }

    private func submit(_ request: Request, body: ByteBuffer, key: IdempotencyKey?, context: GateRequestContext)
        async throws -> Accepted
    {
        let screened = try await screen(request, body: body, context: context)
        let prompt = screened.prompt
        if prompt.verdict.isBlocked {
            throw BlockedError(verdict: ModerationResponse(context: prompt, includeTrace: screened.includeTrace))
        }
        var task = GenerationTask(screened: prompt, preset: screened.state.presets[screened.preset])
        task.webhookURL = try server.config.webhooks.target(
            requested: prompt.request.webhookURL, caller: context.caller.keyName)
        if (prompt.request.batchSize ?? 1) > 1, server.dispatch.dispatcher.binding.inputs[.batchSize]?.isEmpty ?? true {
            throw RequestError(
                code: "request.invalid_value", field: "batch_size",
                detail: "needs a workflow whose latent image node has a batch_size input; this one has none")
        }
        let record = key?.record(body: body, taskID: task.id)
        let submission = try await server.dispatch.dispatcher.submit(task, idempotency: record)
        context.log.task = task.id
        let accepted = AcceptedResponse(submission, warnings: prompt.warnings)
        if let key, let data = try? JSONWriter.encode(accepted) {
            await server.dispatch.dispatcher.store.saveIdempotentResponse(
                scope: key.scope, key: key.key, response: String(decoding: data, as: UTF8.self))
        }
        let response = JSONBody.response(accepted, status: accepted.responseStatus, headers: accepted.responseHeaders)
        return Accepted(response: response, taskID: task.id, replayed: false)
    }

    /// The first answer for a key already bound to a task; nil when the key is new.
    /// - Throws: 422 `idempotency.key_reused` when the key came with another body.
    private func replay(_ key: IdempotencyKey, body: ByteBuffer, store: any TaskStore) async throws -> Accepted? {
        guard let record = await store.idempotencyRecord(scope: key.scope, key: key.key) else { return nil }
        guard record.fingerprint == IdempotencyKey.fingerprint(body) else {
            throw IdempotencyError.reused(taskID: record.taskID)
        }
        var headers: HTTPFields = [.location: "/api/v1/task/\(record.taskID)", .contentType: "application/json"]
        headers[IdempotencyKey.replayedHeader] = "true"
        // Stored before its answer was: answer what the first request would have (the task id).
        let text = record.response ?? #"{"task_id":"\#(record.taskID)"}"#
        let response = Response(status: .accepted, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        return Accepted(response: response, taskID: record.taskID, replayed: true)
    }

    private func collect(_ body: RequestBody) async throws -> ByteBuffer {
        try await body.collect(upTo: server.config.server.maxBodyBytes)
    }

    /// What `moderate` answers and `generate` queues: the decoded request through its preset's pipeline,
    /// with the rules-and-presets snapshot it used (a reload meanwhile does not change the preset under it).
    struct Screened {
        var prompt: PromptContext
        var preset: String
        var state: GateState
        var includeTrace: Bool
    }

    func screen(_ request: Request, body: ByteBuffer, context: GateRequestContext) async throws -> Screened {
        var parsed = try Self.decode(body)
        let state = server.holder.current
        let (preset, pipeline) = try state.pipelines.select(for: &parsed, caller: context.caller)
        let includeTrace = try Self.traceFlag(request)
        let prompt = PromptContext(request: parsed, caller: context.caller, trace: context.accessTrace)
        prompt.recordsNotes = includeTrace
        context.log.prompt = parsed.prompt
        try pipeline.run(prompt)
        server.metrics.verdict(prompt)
        context.log.decision = prompt.verdict.decision.rawValue
        return Screened(prompt: prompt, preset: preset, state: state, includeTrace: includeTrace)
    }

    /// The body as a request: malformed JSON (or JSON behind a byte order mark) is a 400, anything else
    /// wrong names the field (422).
    static func decode(_ body: ByteBuffer) throws -> PromptRequest {
        let bytes = body.readableBytesView
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw MalformedBodyError(detail: "starts with a UTF-8 byte order mark; send the JSON without it")
        }
        do {
            return try PromptRequest.decode(json: bytes)
        } catch let error as JSONReader.Failure {
            guard case .syntax(let offset, let message) = error else { throw error }
            throw MalformedBodyError(detail: "is not valid JSON (\(message) at byte \(offset))")
        }
    }

    /// `?trace=`: `1`/`true` or `0`/`false`; absent is false.
    /// - Throws: 422 `request.invalid_value` (field `trace`) for anything else.
    static func traceFlag(_ request: Request) throws(RequestError) -> Bool {
        guard let value = request.uri.queryParameters["trace"] else { return false }
        switch value.lowercased() {
        case "1", "true": return true
        case "0", "false": return false
        default:
            throw RequestError(
                code: "request.invalid_value", field: "trace",
                detail: "must be true or false (or 1 or 0), found '\(value)'")
        }
    }
}

/// A body that is not JSON.
struct MalformedBodyError: PromptGateError {
    /// What is wrong with it, as the end of "the request body …".
    var detail: String
    var code: String { "request.malformed_json" }
    var kind: ErrorKind { .malformedInput }
    var message: String { "the request body \(detail)" }
}

/// A prompt the policy blocked on `/generate`: 422 with the verdict (reasons, spans) in `details`.
struct BlockedError: PromptGateError {
    var verdict: ModerationResponse
    var code: String { "policy.blocked" }
    var kind: ErrorKind { .invalidInput }
    var message: String {
        "the prompt was blocked by policy: "
            + verdict.reasons.filter { $0.action == .block }.map(\.ruleID).joined(separator: ", ")
    }
    var details: JSONValue? { JSONBody.value(verdict) }
}
