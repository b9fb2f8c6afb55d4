import CCurl
import NIOPosix
import Synchronization

/// HTTP over libcurl for talking to ComfyUI. Calls block, so they run on a dedicated NIO thread pool, never
/// on Swift's cooperative pool; easy handles are kept per transport (one per backend) and reused, so
/// connections stay alive between calls.
public final class CurlTransport: Sendable {
    /// A request that did not produce an HTTP response: refused, reset, timed out, name not resolved.
    public struct Failure: Error, Sendable, Equatable {
        /// libcurl's error code.
        public var code: Int32
        /// libcurl's message for it.
        public var message: String
    }

    /// An HTTP answer.
    public struct Response: Sendable, Equatable {
        /// The HTTP status.
        public var status: Int
        /// The whole body.
        public var body: [UInt8]
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

    /// Performs a request off the cooperative pool.
    public func send(_ method: String, _ path: String, body: [UInt8]? = nil, timeout: Duration = .seconds(30))
        async throws -> Response
    {
        try await send(method, path, body: body, timeout: timeout) { $0 }
    }

    /// Performs a request off the cooperative pool and hands the response to `then` on the same pool thread,
    /// for blocking follow-up work (writing a downloaded file) without another hop.
    public func send<T: Sendable>(
        _ method: String, _ path: String, body: [UInt8]? = nil, timeout: Duration = .seconds(30),
        then: @escaping @Sendable (Response) throws -> T
    ) async throws -> T {
        let url = baseURL + path
        return try await pool.runIfActive { try then(self.perform(method, url: url, body: body, timeout: timeout)) }
    }

    /// The blocking call (runs on the thread pool).
    func perform(_ method: String, url: String, body: [UInt8]?, timeout: Duration) throws -> Response {
        let handle = idle.withLock { $0.popLast() } ?? Handle()
        guard let handle else { throw Failure(code: -1, message: "libcurl could not be initialised") }
        defer { idle.withLock { $0.append(handle) } }
        let curl = handle.pointer
        curl_easy_reset(curl)
        let sink = Sink()
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headers) }
        _ = pgcurl_set_string(curl, CURLOPT_URL, url)
        _ = pgcurl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = pgcurl_set_long(
            curl, CURLOPT_TIMEOUT_MS,
            Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        _ = pgcurl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        _ = pgcurl_set_string(curl, CURLOPT_CUSTOMREQUEST, method)
        if let body {
            headers = curl_slist_append(headers, "Content-Type: application/json")
            _ = pgcurl_set_headers(curl, headers)
            _ = body.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { pgcurl_set_body(curl, $0.baseAddress, Int(buffer.count)) }
            }
        } else if method == "GET" {
            _ = pgcurl_set_long(curl, CURLOPT_HTTPGET, 1)
        }
        _ = pgcurl_set_write_function(curl, writeBody)
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        _ = pgcurl_set_pointer(curl, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        let code = curl_easy_perform(curl)
        guard code == CURLE_OK else {
            throw Failure(code: Int32(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
        return Response(status: pgcurl_response_code(curl), body: sink.bytes)
    }

    final class Sink {
        var bytes: [UInt8] = []
    }
}

private let writeBody: pgcurl_write_fn = { data, size, count, context in
    guard let data, let context else { return 0 }
    let sink = Unmanaged<CurlTransport.Sink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}
