import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PromptGateCore

/// The one error body every route uses: `{"error": {"code", "message", "details"}}`, and the one place an
/// error becomes an HTTP answer: its `kind` decides the status, `retryAfter` becomes `Retry-After`, an
/// authentication failure gets `WWW-Authenticate`.
struct ErrorEnvelope: Encodable {
    struct Body: Encodable {
        var code: String
        var message: String
        var details: JSONValue?
    }

    var error: Body

    /// The status each kind of failure answers with.
    static func status(_ kind: ErrorKind) -> HTTPResponse.Status {
        switch kind {
        case .malformedInput: .badRequest
        case .invalidInput: .unprocessableContent
        case .tooLarge: .contentTooLarge
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    /// The answer for a domain error; `log` (the request's) records its code and field for the access log.
    static func response(for error: any PromptGateError, log: RequestLog? = nil) -> Response {
        var headers: [(String, String)] = []
        if let retry = error.retryAfter { headers.append(("Retry-After", String(retry))) }
        if error.kind == .unauthenticated {
            let invalid = error.code == "auth.invalid_key" ? #", error="invalid_token""# : ""
            headers.append(("WWW-Authenticate", #"Bearer realm="promptgate""# + invalid))
        }
        return response(
            status: status(error.kind), code: error.code, message: error.message, details: error.details,
            headers: headers, log: log)
    }

    /// The answer for anything a handler or Hummingbird threw: domain errors by their kind, Hummingbird's own
    /// (unknown route 404, wrong method 405, body too large 413) by fixed codes, anything else as a 500
    /// that does not leak internals.
    static func response(for error: any Error, request: Request, logger: Logger, log: RequestLog? = nil) -> Response {
        switch error {
        case let error as any PromptGateError:
            return response(for: error, log: log)
        case is NIOTooManyBytesError:
            return response(
                status: .contentTooLarge, code: "request.too_large",
                message: "the request body is larger than the limit (server.max_body_bytes)", log: log)
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                let path = request.uri.path
                if let methods = Endpoint.methods(for: path), !methods.contains(request.method) {
                    let allowed = methods.map(\.rawValue).joined(separator: ", ")
                    return response(
                        status: .methodNotAllowed, code: "http.method_not_allowed",
                        message: "\(request.method) is not allowed on \(path); use \(allowed)",
                        headers: [("Allow", allowed)], log: log)
                }
                return response(
                    status: .notFound, code: "http.not_found", message: "no route for \(path)", log: log)
            case .contentTooLarge:
                return response(
                    status: .contentTooLarge, code: "request.too_large",
                    message: error.body ?? "request body is too large", log: log)
            default:
                return response(
                    status: error.status, code: "http.\(error.status.code)",
                    message: error.body ?? error.status.reasonPhrase, log: log)
            }
        default:
            logger.error("unexpected error", metadata: ["error": "\(error)"])
            return response(status: .internalServerError, code: "internal", message: "internal error", log: log)
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The JSON body of an error.
    static func body(code: String, message: String, details: JSONValue? = nil) -> Data {
        (try? encoder.encode(ErrorEnvelope(error: Body(code: code, message: message, details: details)))) ?? Data()
    }

    /// A JSON error response for `code` with `status` and optional extra headers; `log` records the code and
    /// the field named in `details` for the access log line.
    static func response(
        status: HTTPResponse.Status, code: String, message: String, details: JSONValue? = nil,
        headers: [(name: String, value: String)] = [], log: RequestLog? = nil
    ) -> Response {
        if let log {
            log.error = code
            if case .object(let fields)? = details, case .string(let field)? = fields["field"] { log.field = field }
        }
        let data = body(code: code, message: message, details: details)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for header in headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the envelope (see `ErrorEnvelope.response(for:request:logger:)`).
struct ErrorEnvelopeMiddleware: RouterMiddleware {
    typealias Context = GateRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return ErrorEnvelope.response(for: error, request: request, logger: context.logger, log: context.log)
        }
    }
}
