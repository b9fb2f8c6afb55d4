import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the operating system lets the listener have, and the connection cap derived from it.
///
/// Every connection is a file descriptor; past the open-file limit, `accept` fails and so do the files,
/// sockets and threads the rest of the process needs. So the soft `RLIMIT_NOFILE` is raised to the hard
/// limit at start, and the connection cap stays well under what that leaves after a reserve.
public enum SystemLimits {
    /// Descriptors kept for everything that is not a client connection: backends, logs, stores, the runtime.
    public static let reservedDescriptors = 256

    /// The smallest connection cap, whatever the limit.
    public static let minimumConnections = 16

    /// The open-file limit before and after raising the soft limit to the hard one.
    public struct OpenFiles: Sendable, Equatable {
        /// The soft limit the process started with.
        public var before: Int
        /// The soft limit now.
        public var now: Int
    }

    /// Raises the soft open-file limit to the hard limit (capped at 1,048,576, as systemd's default hard
    /// limit is, since some kernels report "unlimited").
    public static func raiseOpenFileLimit() -> OpenFiles {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return OpenFiles(before: 1024, now: 1024) }
        let before = Int(clamping: limit.rlim_cur)
        let target = min(limit.rlim_max, 1 << 20)
        guard target > limit.rlim_cur else { return OpenFiles(before: before, now: before) }
        var raised = limit
        raised.rlim_cur = target
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else {
            return OpenFiles(before: before, now: before)
        }
        return OpenFiles(before: before, now: Int(clamping: target))
    }

    /// The soft open-file limit now.
    public static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }

    /// The connection cap: `configured` when the descriptors allow it, else what they allow; without a
    /// configured value, 3/4 of the descriptors left after the reserve (at most 10,000).
    /// - Returns: the cap, and whether `configured` had to be lowered.
    public static func connectionCap(configured: Int?, openFiles: Int) -> (cap: Int, lowered: Bool) {
        let available = max(minimumConnections, openFiles - reservedDescriptors)
        guard let configured else { return (max(minimumConnections, min(10_000, available * 3 / 4)), false) }
        return configured > available ? (available, true) : (configured, false)
    }

    /// `net.core.somaxconn`, the kernel's cap on a listen backlog (nil where it cannot be read).
    public static func somaxconn() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8) else {
            return nil
        }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The backlog asked of `listen`: the configured one, capped by `somaxconn` where it is known.
    public static func backlog(configured: Int) -> Int {
        guard let cap = somaxconn(), cap > 0 else { return configured }
        return min(configured, cap)
    }
}
