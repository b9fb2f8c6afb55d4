import Foundation

/// What one run of a command cost: CPU seconds (user + system, all its threads, from `wait4`) and wall seconds.
public struct CommandCost: Sendable {
    /// User plus system CPU seconds of the process.
    public var cpuSeconds: Double
    /// Seconds from start to exit.
    public var wallSeconds: Double
    /// The exit status (or 128 + signal).
    public var status: Int32

    /// Runs `executable` with `arguments`, stdin read from the file `input`, stdout written to the file
    /// `output`, stderr to the file `errors`; waits for it and reads its resource usage.
    /// - Throws: `CommandCost.Failure` when it cannot be started.
    public static func measure(
        _ executable: String, _ arguments: [String], input: String, output: String, errors: String = "/dev/null"
    ) throws -> CommandCost {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let start = ContinuousClock.now
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw Failure(message: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw Failure(message: "cannot wait for \(executable)") }
        }
        let wall = ContinuousClock.now - start
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        let exited = status & 0x7F == 0
        return CommandCost(
            cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18,
            status: exited ? (status >> 8) & 0xFF : 128 + status & 0x7F)
    }

    /// A command that could not be run.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public var message: String
        /// The message.
        public var description: String { message }
    }
}
