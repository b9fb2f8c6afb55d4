import Glibc
import NIOCore
import PromptGateCore

/// A server that could not bind its address, named with host and port (NIO says only
/// `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`). The CLI exits 2 on it.
struct ListenFailure: PromptGateError {
    var code: String { "server.listen_failed" }
    var kind: ErrorKind { .unavailable }
    var message: String

    /// Binds `host:port` for a moment and lets it go, so a taken or foreign address is reported before the
    /// service group starts: a bind failure inside the group cancels it, and that path can deadlock in
    /// swift-async-algorithms' `merge` (seen about once in six runs: the process hangs instead of exiting 2).
    /// Port 0 and names that do not resolve are left to the server itself.
    static func check(host: String, port: Int, setting: String? = nil) throws {
        guard port != 0, let address = try? SocketAddress.makeAddressResolvingHost(host, port: port) else { return }
        let family: Int32 =
            switch address {
            case .v6: AF_INET6
            default: AF_INET
            }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockAddr { pointer, size in bind(fd, pointer, socklen_t(size)) }
        guard bound != 0 else { return }
        let failure = IOError(errnoCode: errno, reason: "bind(descriptor:ptr:bytes:)")
        throw naming(failure, host: host, port: port, setting: setting)
    }

    /// `error` as a `ListenFailure` naming `host:port` when it is a bind failure (`setting`: the configuration key
    /// of the port, if any); otherwise `error` itself.
    static func naming(_ error: any Error, host: String, port: Int, setting: String? = nil) -> any Error {
        let choose = "choose another port with --port" + (setting.map { " or \($0)" } ?? "")
        guard let io = error as? IOError else { return error }
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let why: String
        switch io.errnoCode {
        case EADDRINUSE: why = "the address is already in use (another process listens there; stop it or \(choose))"
        case EACCES: why = "permission denied (ports below 1024 need privileges; \(choose))"
        case EADDRNOTAVAIL: why = "the address is not one of this machine's (check the host)"
        default:
            // Only a failure to bind is about the address; anything else keeps its own words.
            guard io.description.hasPrefix("bind(") else { return error }
            why = io.description
        }
        return ListenFailure(message: "cannot listen on \(address): \(why)")
    }
}
