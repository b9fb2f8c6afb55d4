import NIOPosix

/// HTTP to a URL somebody else chose (a webhook receiver): a `POST` through `CurlTransport` under its `Guard`
/// (http and https only, no redirects, a whole-exchange timeout, a cap on the answer read, every resolved
/// address checked before connecting), with what went wrong said in the webhook's terms.
public struct OutboundHTTP: Sendable {
    /// Why no HTTP answer came.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `webhook.address_refused`, `webhook.timeout`, `webhook.unreachable`, `webhook.bad_url`.
        public var code: String
        /// A sentence for the task's delivery log.
        public var message: String
        /// The sentence.
        public var description: String { message }
    }

    private let transport: CurlTransport
    private let allowAddress: @Sendable ([UInt8], String) -> Bool

    /// - Parameters:
    ///   - threadPool: where the blocking calls run.
    ///   - allowAddress: decides each resolved address (4 or 16 network-order bytes) of the URL's host before
    ///     the connection is made.
    public init(threadPool: NIOThreadPool = .singleton, allowAddress: @escaping @Sendable ([UInt8], String) -> Bool) {
        transport = CurlTransport(baseURL: "", threadPool: threadPool)
        self.allowAddress = allowAddress
    }

    /// POSTs `body` to `url` with `headers` (`Name: value` lines); returns the status (the body is read up to
    /// `maxResponseBytes` and not kept further).
    /// - Throws: `Failure` when no answer came (refused address, timeout, connection error, unusable URL).
    public func post(
        _ url: String, headers: [String], body: [UInt8], timeout: Duration, maxResponseBytes: Int
    ) async throws(Failure) -> Int {
        let limits = CurlTransport.Guard(allowAddress: allowAddress, maxResponseBytes: maxResponseBytes)
        do {
            return try await transport.post(url: url, headers: headers, body: body, timeout: timeout, limits: limits)
                .status
        } catch let failure as CurlTransport.Failure {
            throw Self.failure(failure, url: url, timeout: timeout)
        } catch {
            throw Failure(code: "webhook.unreachable", message: "the receiver could not be reached: \(error)")
        }
    }

    static func failure(_ failure: CurlTransport.Failure, url: String, timeout: Duration) -> Failure {
        if let refused = failure.refusedAddress {
            return Failure(
                code: "webhook.address_refused",
                message: "\(CurlTransport.host(of: url)) resolves to \(refused), a private, loopback or link-local "
                    + "address (allow it in webhooks.allowed_hosts)")
        }
        switch failure.code {
        case 28:  // CURLE_OPERATION_TIMEDOUT
            return Failure(code: "webhook.timeout", message: "no answer within webhooks.timeout (\(timeout))")
        case 1, 3:  // CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT
            return Failure(code: "webhook.bad_url", message: "the URL cannot be called: \(failure.message)")
        default:
            return Failure(
                code: "webhook.unreachable", message: "the receiver could not be reached: \(failure.message)")
        }
    }
}
