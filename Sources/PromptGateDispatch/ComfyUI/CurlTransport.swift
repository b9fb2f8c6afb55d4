import Foundation
import CCurl
import NIOPosix
import Synchronization

/// HTTP over libcurl to one server (a ComfyUI backend; a gateway for `promptgate submit`). Calls block, so
/// they run on a dedicated NIO thread pool, never on Swift's cooperative pool; easy handles are kept per
/// transport and reused, so connections stay alive between calls. `stream` hands a long answer (Server-Sent
/// Events) over chunk by chunk as it arrives.
public final class CurlTransport: Sendable {
    /// A request that did not produce an HTTP response: refused, reset, timed out, name not resolved.
    public struct Failure: Error, Sendable, Equatable {
        /// libcurl's error code.
        public var code: Int32
        /// libcurl's message for it.
        public var message: String
        /// The address a `Guard` refused to connect to (the only one the name resolved to, or the last).
        public var refusedAddress: String? = nil
    }

    /// Limits for a call to a URL somebody else chose (a webhook receiver): http and https only, redirects
    /// never followed, every address curl is about to connect to shown to `allowAddress` first (so a name
    /// that resolves to an internal address is refused on the connection itself, with no second lookup to
    /// race), and at most `maxResponseBytes` of the answer read.
    public struct Guard: Sendable {
        /// Whether an address (4 or 16 network-order bytes) may be connected to for a URL naming `host`.
        public var allowAddress: @Sendable (_ address: [UInt8], _ host: String) -> Bool
        /// How much of the body is kept; past it the transfer stops (`Response.truncated`).
        public var maxResponseBytes: Int

        /// - Parameters: the address check and the body cap.
        public init(allowAddress: @escaping @Sendable ([UInt8], String) -> Bool, maxResponseBytes: Int) {
            self.allowAddress = allowAddress
            self.maxResponseBytes = maxResponseBytes
        }
    }

    /// An HTTP answer.
    public struct Response: Sendable, Equatable {
        /// The HTTP status.
        public var status: Int
        /// The whole body.
        public var body: [UInt8]
        /// The response's header fields, names lowercased (the last of repeated ones).
        public var headers: [String: String] = [:]
        /// Whether the body was cut at a `Guard`'s `maxResponseBytes`.
        public var truncated = false
    }

    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    private final class Handle: @unchecked Sendable {
        // Owned by one call at a time (taken from and returned to the pool under its lock).
        let pointer: UnsafeMutableRawPointer
        init?() {
            guard CurlTransport.globalInit, let pointer = curl_easy_init() else { return nil }
            self.pointer = pointer
        }
        deinit { curl_easy_cleanup(pointer) }
    }

    private let idle = Mutex<[Handle]>([])
    private let pool: NIOThreadPool
    /// Base URL, e.g. `http://127.0.0.1:8188`.
    public let baseURL: String

    /// - Parameter threadPool: the dedicated pool blocking calls run on (started by the caller).
    public init(baseURL: String, threadPool: NIOThreadPool) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        pool = threadPool
    }

    /// Performs a request off the cooperative pool; `headers` are `Name: value` lines.
    public func send(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers: [String] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        try await send(method, path, body: body, headers: headers, timeout: timeout) { $0 }
    }

    /// A `GET` whose body is handed to `onChunk` piece by piece as it arrives (on a pool thread); `onChunk`
    /// returns false to stop reading. The call ends when the server closes, `onChunk` stops it, or nothing at
    /// all arrives for `idleTimeout`. Returns the status and headers (the body is not kept).
    public func stream(
        _ path: String, headers: [String] = [], idleTimeout: Duration,
        onChunk: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Response {
        let url = baseURL + path
        return try await pool.runIfActive {
            try self.perform(
                "GET", url: url, body: nil, headers: headers, timeout: nil, idleLimit: idleTimeout, onChunk: onChunk)
        }
    }

    /// `POST`s `body` to `url` (absolute; the transport's base URL is not used) under `limits`.
    public func post(url: String, headers: [String], body: [UInt8], timeout: Duration, limits: Guard)
        async throws -> Response
    {
        try await pool.runIfActive {
            try self.perform("POST", url: url, body: body, headers: headers, timeout: timeout, guarded: limits)
        }
    }

    /// Performs a request off the cooperative pool and hands the response to `then` on the same pool thread,
    /// for blocking follow-up work (writing a downloaded file) without another hop.
    public func send<T: Sendable>(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers: [String] = [],
        timeout: Duration = .seconds(30),
        then: @escaping @Sendable (Response) throws -> T
    ) async throws -> T {
        let url = baseURL + path
        return try await pool.runIfActive {
            try then(self.perform(method, url: url, body: body, headers: headers, timeout: timeout))
        }
    }

    /// The blocking call (runs on the thread pool). `timeout` nil: no limit on the whole exchange, but `idleLimit`
    /// (no byte for that long) ends it; `onChunk` set: the body goes there instead of into the response;
    /// `guarded`: the limits of a URL somebody else chose.
    func perform(
        _ method: String, url: String, body: [UInt8]?, headers extra: [String] = [], timeout: Duration?,
        idleLimit: Duration? = nil, onChunk: (@Sendable ([UInt8]) -> Bool)? = nil, guarded: Guard? = nil
    ) throws -> Response {
        let handle = idle.withLock { $0.popLast() } ?? Handle()
        guard let handle else { throw Failure(code: -1, message: "libcurl could not be initialised") }
        defer { idle.withLock { $0.append(handle) } }
        let curl = handle.pointer
        curl_easy_reset(curl)
        let sink = Sink()
        sink.onChunk = onChunk
        sink.guarded = guarded
        sink.host = Self.host(of: url)
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headers) }
        _ = pgcurl_set_string(curl, CURLOPT_URL, url)
        _ = pgcurl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        if let timeout { _ = pgcurl_set_long(curl, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)) }
        if let idleLimit {
            // Less than a byte a second for `idleLimit`: the connection is dead (a live event stream sends heartbeats).
            _ = pgcurl_set_long(curl, CURLOPT_LOW_SPEED_LIMIT, 1)
            _ = pgcurl_set_long(curl, CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(idleLimit) / 1000))
        }
        _ = pgcurl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        _ = pgcurl_set_string(curl, CURLOPT_CUSTOMREQUEST, method)
        for header in extra { headers = curl_slist_append(headers, header) }
        if body != nil { headers = curl_slist_append(headers, "Content-Type: application/json") }
        if headers != nil { _ = pgcurl_set_headers(curl, headers) }
        if let body {
            _ = body.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { pgcurl_set_body(curl, $0.baseAddress, Int(buffer.count)) }
            }
        } else if method == "GET" {
            _ = pgcurl_set_long(curl, CURLOPT_HTTPGET, 1)
        }
        _ = pgcurl_set_write_function(curl, writeBody)
        _ = pgcurl_set_header_function(curl, keepHeader)
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        _ = pgcurl_set_pointer(curl, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        _ = pgcurl_set_pointer(curl, CURLOPT_HEADERDATA, unmanaged.toOpaque())
        if guarded != nil {
            _ = pgcurl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = pgcurl_set_long(curl, CURLOPT_FOLLOWLOCATION, 0)
            _ = pgcurl_set_opensocket(curl, openCheckedSocket, unmanaged.toOpaque())
        }
        let code = curl_easy_perform(curl)
        // A stream its reader stopped, or a body cut at the cap, ends with a write error: the status line and
        // headers were read, so that is an answer, not a failure.
        guard code == CURLE_OK || (code == CURLE_WRITE_ERROR && (sink.stopped || sink.truncated)) else {
            throw Failure(
                code: Int32(code.rawValue), message: String(cString: curl_easy_strerror(code)),
                refusedAddress: sink.refused)
        }
        return Response(
            status: pgcurl_response_code(curl), body: sink.bytes, headers: sink.headers, truncated: sink.truncated)
    }

    /// The host part of an http(s) URL (without brackets, port, user info).
    public static func host(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.first == "[", let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        return String(rest.prefix { $0 != ":" })
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// What the callbacks fill during one call (one thread at a time).
    final class Sink {
        var bytes: [UInt8] = []
        var headers: [String: String] = [:]
        var onChunk: (@Sendable ([UInt8]) -> Bool)?
        var stopped = false
        var guarded: Guard?
        var host = ""
        var refused: String?
        var truncated = false
    }
}

/// One header line: `Name: value` kept under the lowercased name; a new status line (a redirect, 100
/// Continue) starts the set again.
private let keepHeader: pgcurl_write_fn = { data, size, count, context in
    guard let data, let context else { return 0 }
    let sink = Unmanaged<CurlTransport.Sink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        sink.headers = [:]
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        sink.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return length
}

private let writeBody: pgcurl_write_fn = { data, size, count, context in
    guard let data, let context else { return 0 }
    let sink = Unmanaged<CurlTransport.Sink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    if let cap = sink.guarded?.maxResponseBytes, sink.bytes.count + length > cap {
        data.withMemoryRebound(to: UInt8.self, capacity: length) {
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: max(0, cap - sink.bytes.count)))
        }
        sink.truncated = true
        return 0
    }
    if let onChunk = sink.onChunk {
        let chunk = data.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
        guard onChunk(chunk) else {
            sink.stopped = true
            return 0
        }
        return length
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

/// Shows the address to the guard, then makes the socket curl asked for (or refuses it).
private let openCheckedSocket: pgcurl_opensocket_fn = { context, _, address in
    guard let context, let address else { return pgcurl_socket_bad }
    let sink = Unmanaged<CurlTransport.Sink>.fromOpaque(context).takeUnretainedValue()
    var bytes: [UInt8] = []
    let family = address.pointee.family
    withUnsafePointer(to: &address.pointee.addr) { pointer in
        pointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<sockaddr_in6>.size) { raw in
            if family == AF_INET, let start = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr) {
                bytes = Array(UnsafeBufferPointer(start: raw + start, count: 4))
            } else if family == AF_INET6, let start = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr) {
                bytes = Array(UnsafeBufferPointer(start: raw + start, count: 16))
            }
        }
    }
    guard !bytes.isEmpty, sink.guarded?.allowAddress(bytes, sink.host) == true else {
        sink.refused = bytes.isEmpty ? "an address of an unknown family" : addressText(bytes)
        return pgcurl_socket_bad
    }
    return socket(family, address.pointee.socktype, address.pointee.protocol)
}

/// An address as text (`inet_ntop`), for messages.
private func addressText(_ bytes: [UInt8]) -> String {
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    let done = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
    guard done != nil else { return "?" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
