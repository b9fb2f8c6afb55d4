import Hummingbird
import Logging
import PromptGateCore

/// What a handler learned about the request, for the access log line the middleware writes afterwards.
/// One per request, written by its handler before the middleware reads it.
final class RequestLog: @unchecked Sendable {
    // Safe: written by the request's handler, read by the same request's middleware after `next` returned.
    var decision: String?
    var caller: String?
    var prompt: String?
    var task: String?
    /// The error code of an error answer, and the field at fault when one was (set by `ErrorEnvelope`).
    var error: String?
    var field: String?
}

/// One structured log line per request (request id, route, status, decision, latency, caller, the error code and
/// field of an error answer; the prompt
/// only with `logging.log_prompts`), and the request counters.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = GateRequestContext
    let metrics: GateMetrics
    let logPrompts: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        // A wrong method on a known path (405) counts under that route.
        var route = Endpoint.label(context.endpointPath)
        if route == Endpoint.unmatched, response.status == .methodNotAllowed {
            route = Endpoint.route(for: request.uri.path) ?? route
        }
        // A client that closed the connection before the answer is not a failure of ours: counted and logged
        // as 499 `client_closed` (nginx's convention), whatever the handler made of its cut-off request.
        let clientClosed = !context.channel.isActive
        let status = clientClosed ? 499 : response.status.code
        metrics.request(route: route, status: status)
        // Build the line only when it will be written (under load at `warning` this is per-request work saved).
        guard context.logger.logLevel <= .info else { return response }
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "route": "\(route)",
            "status": "\(status)",
            "latency_ms": "\((milliseconds * 1000).rounded() / 1000)",
        ]
        if clientClosed {
            metadata["error"] = "client_closed"
        } else if let error = context.log.error {
            metadata["error"] = "\(error)"
            if let field = context.log.field { metadata["field"] = "\(field)" }
        }
        if let decision = context.log.decision { metadata["decision"] = "\(decision)" }
        if let caller = context.log.caller { metadata["caller"] = "\(caller)" }
        if let task = context.log.task ?? context.parameters.get("id") { metadata["task"] = "\(task)" }
        if logPrompts, let prompt = context.log.prompt { metadata["prompt"] = "\(prompt)" }
        context.logger.info("request", metadata: metadata)
        return response
    }
}
