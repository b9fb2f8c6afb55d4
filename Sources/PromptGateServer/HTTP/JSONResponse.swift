import PromptGateCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A typed JSON answer: handlers return the value, Hummingbird asks it for the response, written by
/// `JSONWriter` (members in the order the type encodes them).
protocol JSONResponse: Encodable, ResponseGenerator {
    /// The status to answer with (200 unless the type says otherwise).
    var responseStatus: HTTPResponse.Status { get }
    /// Extra header fields.
    var responseHeaders: HTTPFields { get }
}

extension JSONResponse {
    var responseStatus: HTTPResponse.Status { .ok }
    var responseHeaders: HTTPFields { [:] }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(self, status: responseStatus, headers: responseHeaders)
    }
}

/// JSON encoding for answers.
enum JSONBody {
    /// `value` as an `application/json` response.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
        -> Response
    {
        let bytes = (try? JSONWriter.encode(value)) ?? Array("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Any Encodable as a JSON value (error details; not on a hot path).
    static func value(_ value: some Encodable) -> JSONValue? {
        guard let bytes = try? JSONWriter.encode(value) else { return nil }
        return try? JSONReader.parse(bytes)
    }
}

/// A JSON value as an answer (`/status`, `/openapi.json`, small bodies).
struct JSONDocument: JSONResponse {
    var value: JSONValue
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
