import Hummingbird
import NIOCore

/// Applies `SimFaults` in front of every ComfyUI route (the `/sim/` control routes are exempt).
struct FaultMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let sim: ComfySim

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.uri.path.hasPrefix("/sim/") { return try await next(request, context) }
        let faults = sim.faults
        if faults.hang { try await Task.sleep(for: .seconds(3600)) }
        if faults.latency > .zero { try await Task.sleep(for: faults.latency) }
        if faults.http500 {
            return Response(
                status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "500 Internal Server Error")))
        }
        let response = try await next(request, context)
        if faults.slowPromptAnswer > .zero, request.method == .post, request.uri.path == "/prompt" {
            try await Task.sleep(for: faults.slowPromptAnswer)
        }
        if faults.malformedJSON, response.headers[.contentType]?.hasPrefix("application/json") == true {
            var broken = response
            broken.body = .init(byteBuffer: ByteBuffer(string: "{\"prompt_id\": <html>"))
            return broken
        }
        return response
    }
}
