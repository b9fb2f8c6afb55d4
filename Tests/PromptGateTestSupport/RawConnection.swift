import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to 127.0.0.1, for tests that speak HTTP byte by byte (partial requests, bad
/// framing, idle sockets). Reads give up after `readTimeout`, so no test waits for ever. Blocking calls run on
/// GCD threads, never on the cooperative pool the server under test also uses.
public final class RawConnection: @unchecked Sendable {
    // Safe: one test drives one connection, one call at a time.
    private var fd: Int32
    private var received = Data()

    /// Connects to `127.0.0.1:port`.
    /// - Throws: `RawConnection.Failure` when the connection cannot be made.
    public init(port: Int, readTimeout: TimeInterval = 20) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(message: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: Int(readTimeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure(message: "connect: errno \(code)")
        }
    }

    deinit { close() }

    /// Sends bytes as they are (a closed peer is not an error: the test reads what it answered).
    public func send(_ text: String) { send(Data(text.utf8)) }

    /// Sends bytes as they are.
    public func send(_ data: Data) {
        guard fd >= 0 else { return }
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    /// Reads until the server closes the connection or the read timeout passes.
    /// - Returns: everything received, and whether the server closed the connection.
    public func readUntilClosed() async -> (text: String, closed: Bool) {
        await blocking {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(self.fd, &buffer, buffer.count, 0)
                if count > 0 {
                    self.received.append(contentsOf: buffer[0..<count])
                    continue
                }
                // 0: an orderly close; -1 with ECONNRESET: closed too (reset after unread input).
                let closed = count == 0 || errno == ECONNRESET
                return (String(decoding: self.received, as: UTF8.self), closed)
            }
        }
    }

    /// Reads until `marker` has arrived (or the connection closes, or the read timeout passes).
    /// - Returns: everything received so far.
    public func read(until marker: String, occurrences: Int = 1) async -> String {
        await blocking {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while String(decoding: self.received, as: UTF8.self).components(separatedBy: marker).count <= occurrences {
                let count = recv(self.fd, &buffer, buffer.count, 0)
                guard count > 0 else { break }
                self.received.append(contentsOf: buffer[0..<count])
            }
            return String(decoding: self.received, as: UTF8.self)
        }
    }

    /// Closes the connection (again is harmless).
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    /// A connection that could not be made.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed, with errno.
        public var message: String
        /// The message.
        public var description: String { message }
    }
}

/// An HTTP answer read off a raw connection: the status line's code, the headers, the body.
public struct RawResponse: Sendable {
    /// The final status (a `100 Continue` before it is skipped).
    public var status: Int
    /// Header lines, names lowercased.
    public var headers: [String: String]
    /// Everything after the blank line.
    public var body: String

    /// Parses the last response head in `text` (skipping interim `1xx` answers); nil when there is none.
    public init?(_ text: String) {
        var rest = Substring(text)
        while true {
            guard let end = rest.range(of: "\r\n\r\n") else { return nil }
            let head = rest[..<end.lowerBound]
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
                let code = Int(statusLine.dropFirst(9).prefix(3))
            else { return nil }
            rest = rest[end.upperBound...]
            if (100..<200).contains(code) { continue }
            status = code
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
            self.headers = headers
            body = String(rest)
            return
        }
    }

    /// The envelope's `error.code`, if the body is one.
    public var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return nil
        }
        return (object["error"] as? [String: Any])?["code"] as? String
    }
}
