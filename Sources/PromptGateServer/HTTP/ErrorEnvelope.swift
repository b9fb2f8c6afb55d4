import HTTPTypes
import Foundation
import NIOCore
import Hummingbird
import PromptGateAccess
import PromptGateCore

/// The one error body every route uses: `{"error": {"code", "message", "details"}}`.
struct ErrorEnvelope: Encodable {
    struct Body: Encodable {
        var code: String
        var message: String
        var details: JSONValue?
    }

    var error: Body

    /// A JSON response for `code` with `status` and optional extra headers.
    static func response(
        status: HTTPResponse.Status, code: String, message: String, details: JSONValue? = nil,
        headers: [(name: String, value: String)] = []
    ) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(ErrorEnvelope(error: Body(code: code, message: message, details: details)))) ?? Data()
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for header in headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the envelope: domain errors by their code and status, Hummingbird's own (unknown
/// route 404, wrong method 405, body too large 413) by fixed codes, anything else as a 500 that does not
/// leak internals.
struct ErrorEnvelopeMiddleware: RouterMiddleware {
    typealias Context = GateRequestContext
    /// Path → methods it answers, to tell 405 from 404.
    let routes: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any PromptGateError {
            var details: JSONValue? = nil
            let headers = error.responseHeaders
            if let requestError = error as? RequestError { details = ["field": .string(requestError.field)] }
            if let line = error as? InputLineError { details = ["line": .number(Double(line.line))] }
            if let blocked = error as? BlockedError { details = blocked.details }
            return ErrorEnvelope.response(
                status: .init(code: error.httpStatus), code: error.code, message: error.message, details: details, headers: headers)
        } catch is NIOTooManyBytesError {
            return ErrorEnvelope.response(status: .contentTooLarge, code: "request.too_large", message: "the request body is larger than the limit (server.max_body_bytes)")
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                let path = request.uri.path
                if let methods = Self.methods(for: path, in: routes), !methods.contains(request.method) {
                    return ErrorEnvelope.response(
                        status: .methodNotAllowed, code: "http.method_not_allowed",
                        message: "\(request.method) is not allowed on \(path); use \(methods.map(\.rawValue).joined(separator: ", "))",
                        headers: [("Allow", methods.map(\.rawValue).joined(separator: ", "))])
                }
                return ErrorEnvelope.response(status: .notFound, code: "http.not_found", message: "no route for \(path)")
            case .contentTooLarge:
                return ErrorEnvelope.response(status: .contentTooLarge, code: "request.too_large", message: error.body ?? "request body is too large")
            default:
                return ErrorEnvelope.response(status: error.status, code: "http.\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
            }
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return ErrorEnvelope.response(status: .internalServerError, code: "internal", message: "internal error")
        }
    }

    /// The methods of the route a path matches (`{name}` matches one segment).
    static func methods(for path: String, in routes: [String: [HTTPRequest.Method]]) -> [HTTPRequest.Method]? {
        if let exact = routes[path] { return exact }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (route, methods) in routes where route.contains("{") {
            let pattern = route.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count else { continue }
            if zip(pattern, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return methods }
        }
        return nil
    }
}
