import Hummingbird
import NIOPosix
import PromptGateDispatch

/// Serves `router` on 127.0.0.1 and an ephemeral port while `body` runs with a ComfyUI client pointed at
/// it, then stops the server and the client's thread pool.
func withLoopbackComfyUI<Context: RequestContext>(
    _ router: Router<Context>, _ body: (ComfyUIClient, CurlTransport) async throws -> Void
) async throws where Context.Source == ApplicationRequestContextSource {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
    let pool = NIOThreadPool(numberOfThreads: 2)
    pool.start()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let transport = CurlTransport(baseURL: "http://127.0.0.1:\(port)", threadPool: pool)
        do {
            try await body(ComfyUIClient(transport: transport, clientID: "test"), transport)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
    try await pool.shutdownGracefully()
}
