import NIOCore

/// The `drop_connections` fault: while it is on, a request is answered by closing the connection, as a
/// crashing or restarting server does (clients see an empty reply or a reset, not an HTTP status).
final class DropConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    // Requests are only passed on or dropped, never looked into.
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny

    let sim: ComfySim

    init(sim: ComfySim) { self.sim = sim }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if sim.faults.dropConnections {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
