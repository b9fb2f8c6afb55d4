import ServiceLifecycle
import UnixSignals

/// Reloads rules and presets on SIGHUP until graceful shutdown.
public struct ReloadOnHangup: Service {
    let server: GateServer

    /// A service reloading `server`.
    public init(server: GateServer) { self.server = server }

    /// Reloads on every SIGHUP until graceful shutdown.
    public func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            server.reload()
        }
    }
}
