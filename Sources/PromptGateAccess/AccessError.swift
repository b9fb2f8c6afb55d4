import PromptGateCore

/// A request refused before policy: unknown address (403), missing or wrong API key (401), over its rate
/// limit (429). Carries the response headers the refusal needs.
public struct AccessError: PromptGateError, Equatable {
    public var code: String
    public var httpStatus: Int
    public var message: String
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    public var headers: [(name: String, value: String)]
    public var responseHeaders: [(name: String, value: String)] { headers }

    public init(code: String, httpStatus: Int, message: String, headers: [(name: String, value: String)] = []) {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.headers = headers
    }

    public static func == (lhs: AccessError, rhs: AccessError) -> Bool {
        lhs.code == rhs.code && lhs.httpStatus == rhs.httpStatus && lhs.message == rhs.message
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    public static func forbidden(_ message: String) -> AccessError {
        AccessError(code: "access.ip_not_allowed", httpStatus: 403, message: message, headers: [])
    }

    public static func unauthorized(_ code: String, _ message: String) -> AccessError {
        AccessError(
            code: code, httpStatus: 401, message: message,
            headers: [("WWW-Authenticate", #"Bearer realm="promptgate""# + (code == "auth.invalid_key" ? #", error="invalid_token""# : ""))])
    }
}
