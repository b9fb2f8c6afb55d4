import CCurl
import Glibc
import NIOPosix

/// HTTP to a URL somebody else chose (a webhook receiver), over libcurl with the limits such a URL needs:
/// http and https only, redirects never followed, a whole-exchange timeout, a cap on how much of the answer
/// is read, and every address curl is about to connect to shown to `allowAddress` first (so a name that
/// resolves to a private address is refused on the connection itself, with no second lookup to race).
/// Calls block, so they run on a NIO thread pool, never on the cooperative pool.
public struct OutboundHTTP: Sendable {
    /// What came back: the status and at most `maxResponseBytes` of the body.
    public struct Response: Sendable, Equatable {
        /// The HTTP status.
        public var status: Int
        /// The start of the body.
        public var body: [UInt8]
        /// Whether the body was longer than the cap (the rest was not read).
        public var truncated: Bool
    }

    /// Why no HTTP answer came.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `webhook.address_refused`, `webhook.timeout`, `webhook.unreachable`, `webhook.bad_url`.
        public var code: String
        /// A sentence for the task's delivery log.
        public var message: String
        /// A sentence for the task's delivery log.
        public var description: String { message }
    }

    /// Whether an address (4 or 16 network-order bytes) may be connected to.
    public typealias AddressCheck = @Sendable (_ address: [UInt8], _ host: String) -> Bool

    private let pool: NIOThreadPool
    private let allowAddress: AddressCheck

    /// - Parameters:
    ///   - threadPool: where the blocking calls run.
    ///   - allowAddress: decides each resolved address before the connection is made.
    public init(threadPool: NIOThreadPool = .singleton, allowAddress: @escaping AddressCheck) {
        pool = threadPool
        self.allowAddress = allowAddress
    }

    /// POSTs `body` to `url` with `headers` (`Name: value` lines).
    /// - Throws: `Failure` when no answer came (refused address, timeout, connection error).
    public func post(
        _ url: String, headers: [String], body: [UInt8], timeout: Duration, maxResponseBytes: Int
    ) async throws -> Response {
        let check = allowAddress
        return try await pool.runIfActive {
            try Self.perform(
                url: url, headers: headers, body: body, timeout: timeout, cap: maxResponseBytes, check: check)
        }
    }

    /// What the callbacks share with the call: the address check, what it refused, the body read so far.
    final class Exchange {
        let check: AddressCheck
        let host: String
        let cap: Int
        var refused: String?
        var body: [UInt8] = []
        var truncated = false

        init(check: @escaping AddressCheck, host: String, cap: Int) {
            self.check = check
            self.host = host
            self.cap = cap
        }
    }

    private static func perform(
        url: String, headers: [String], body: [UInt8], timeout: Duration, cap: Int, check: @escaping AddressCheck
    ) throws -> Response {
        guard let curl = curl_easy_init() else {
            throw Failure(code: "webhook.unreachable", message: "libcurl could not be initialised")
        }
        defer { curl_easy_cleanup(curl) }
        let exchange = Exchange(check: check, host: host(of: url), cap: cap)
        let context = Unmanaged.passRetained(exchange)
        defer { context.release() }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for header in headers { list = curl_slist_append(list, header) }
        let milliseconds = Int(
            timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        _ = pgcurl_set_string(curl, CURLOPT_URL, url)
        _ = pgcurl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = pgcurl_set_long(curl, CURLOPT_FOLLOWLOCATION, 0)
        _ = pgcurl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = pgcurl_set_long(curl, CURLOPT_TIMEOUT_MS, max(1, milliseconds))
        _ = pgcurl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, max(1, min(milliseconds, 5000)))
        _ = pgcurl_set_string(curl, CURLOPT_CUSTOMREQUEST, "POST")
        _ = pgcurl_set_headers(curl, list)
        _ = body.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { pgcurl_set_body(curl, $0.baseAddress, Int(buffer.count)) }
        }
        _ = pgcurl_set_opensocket(curl, openCheckedSocket, context.toOpaque())
        _ = pgcurl_set_write_function(curl, keepBody)
        _ = pgcurl_set_pointer(curl, CURLOPT_WRITEDATA, context.toOpaque())
        let code = curl_easy_perform(curl)
        // Past the cap the write callback stops the transfer: the status line has been read by then.
        if code == CURLE_OK || (code == CURLE_WRITE_ERROR && exchange.truncated) {
            return Response(status: pgcurl_response_code(curl), body: exchange.body, truncated: exchange.truncated)
        }
        if let refused = exchange.refused {
            throw Failure(
                code: "webhook.address_refused",
                message: "\(exchange.host) resolves to \(refused), a private, loopback or link-local address "
                    + "(allow it in webhooks.allowed_hosts)")
        }
        let detail = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            throw Failure(code: "webhook.timeout", message: "no answer within webhooks.timeout (\(timeout))")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            throw Failure(code: "webhook.bad_url", message: "the URL cannot be called: \(detail)")
        default:
            throw Failure(code: "webhook.unreachable", message: "the receiver could not be reached: \(detail)")
        }
    }

    /// The host part of an http(s) URL (without brackets, port, user info), for messages and the check.
    static func host(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        rest = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.first == "[", let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        return String(rest.prefix { $0 != ":" })
    }
}

/// Shows the address to the check, then makes the socket curl asked for (or refuses it).
private let openCheckedSocket: pgcurl_opensocket_fn = { context, _, address in
    guard let context, let address else { return pgcurl_socket_bad }
    let exchange = Unmanaged<OutboundHTTP.Exchange>.fromOpaque(context).takeUnretainedValue()
    var bytes: [UInt8] = []
    let family = address.pointee.family
    withUnsafePointer(to: &address.pointee.addr) { pointer in
        pointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<sockaddr_in6>.size) { raw in
            if family == AF_INET {
                let start = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!
                bytes = Array(UnsafeBufferPointer(start: raw + start, count: 4))
            } else if family == AF_INET6 {
                let start = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
                bytes = Array(UnsafeBufferPointer(start: raw + start, count: 16))
            }
        }
    }
    guard !bytes.isEmpty, exchange.check(bytes, exchange.host) else {
        exchange.refused = bytes.isEmpty ? "an address of an unknown family" : OutboundHTTP.text(of: bytes)
        return pgcurl_socket_bad
    }
    return socket(family, address.pointee.socktype, address.pointee.protocol)
}

/// Keeps the body up to the cap; past it, stops the transfer (returning less than was given).
private let keepBody: pgcurl_write_fn = { data, size, count, context in
    guard let data, let context else { return 0 }
    let exchange = Unmanaged<OutboundHTTP.Exchange>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    let room = exchange.cap - exchange.body.count
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        exchange.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: min(length, max(0, room))))
    }
    if length > room {
        exchange.truncated = true
        return 0
    }
    return length
}

extension OutboundHTTP {
    /// An address as text (`inet_ntop`), for messages.
    static func text(of bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let done = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard done != nil else { return "?" }
        return String(cString: buffer)
    }
}
