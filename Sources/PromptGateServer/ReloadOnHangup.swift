import ServiceLifecycle
import UnixSignals

/// On SIGHUP, until graceful shutdown: reopens the log file (after logrotate moved it) and reloads rules and
/// presets.
public struct ReloadOnHangup: Service {
    let server: GateServer
    let logFile: LogFile?

    /// A service reloading `server` and reopening `logFile`.
    public init(server: GateServer, logFile: LogFile? = nil) {
        self.server = server
        self.logFile = logFile
    }

    /// Reopens and reloads on every SIGHUP until graceful shutdown.
    public func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logFile?.reopen()
            server.reload()
        }
    }
}
