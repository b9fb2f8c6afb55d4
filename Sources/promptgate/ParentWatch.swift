import Glibc
import ServiceLifecycle

/// Ends when the process that started this one has gone (`--exit-with-parent`), so the service group shuts
/// down gracefully: killing `make run` (which forwards no signal to its recipe) then stops `serve` and,
/// through it, `comfy-sim`. Linux re-parents an orphan, so a changed parent id is the sign.
struct ParentWatch: Service {
    /// How often the parent id is read.
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        let parent = getppid()
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
    static func entry(_ enabled: Bool) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        enabled ? [.init(service: ParentWatch(), successTerminationBehavior: .gracefullyShutdownGroup)] : []
    }
}
