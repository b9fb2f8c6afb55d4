import Hummingbird
import NIOCore
import PromptGateCore

/// The per-request context: Hummingbird's core storage, the peer address (for the allowlist and the
/// X-Forwarded-For walk), and the caller once the route group's access middleware has decided it.
public struct GateRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The socket peer.
    public let remoteAddress: SocketAddress?
    /// The connection, to tell a client that went away from a request that failed.
    let channel: any Channel
    /// Who is calling; set by `AccessMiddleware` before any handler of its group runs.
    public var caller = Caller()
    /// The access checks that ran, as trace entries (shown by `?trace=1` before the pipeline's own).
    public var accessTrace: [TraceEntry] = []
    /// Filled by handlers for the access log.
    let log = RequestLog()

    /// Hummingbird builds one per request.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}
