import Glibc
import ServiceLifecycle

/// Ends when the process that started this one has gone (`--exit-with-parent`), so the service group shuts
/// down gracefully: `make run` killed in a way that reaches only make (SIGKILL, or a signal make does not pass
/// on) still stops `serve` and, through it, `comfy-sim`. Linux re-parents an orphan, so a changed parent id is
/// the sign.
struct ParentWatch: Service {
    /// The parent when the command started: read first thing, since loading rules and presets takes a moment
    /// and the parent may already be gone by the time the service group runs.
    let parent = getppid()
    /// How often the parent id is read.
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        let interval = interval
        while getppid() == parent {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
        }
    }

    /// The service entry that shuts the group down when the parent has gone.
    var entry: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)
    }
}
