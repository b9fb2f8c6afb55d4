import Hummingbird
import NIOCore

/// The per-request context: Hummingbird's core storage plus the peer address (for the allowlist and the
/// X-Forwarded-For walk).
public struct GateRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Filled by handlers for the access log.
    let log = RequestLog()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
