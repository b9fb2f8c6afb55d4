import HTTPTypes
import Hummingbird

/// `HEAD` on every `GET` route (registered with the `GET` handler, see `RouteCollection.on(_:use:)`): the
/// answer a `GET` would get (status, headers, the length the body would have), without the body
/// (RFC 9110 §9.3.2). Errors included, so it wraps everything.
struct HeadMiddleware: RouterMiddleware {
    typealias Context = GateRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .head else { return try await next(request, context) }
        var response = try await next(request, context)
        let length = response.body.contentLength
        response.body = ResponseBody()  // (this sets Content-Length: 0, so the length is put back after)
        if let length { response.headers[.contentLength] = String(length) }
        return response
    }
}
