import Glibc
import NIOCore
import PromptGateCore

/// A server that could not bind its address, named with host and port (NIO says only
/// `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`). The CLI exits 2 on it.
struct ListenFailure: PromptGateError {
    var code: String { "server.listen_failed" }
    var kind: ErrorKind { .unavailable }
    var message: String

    /// `error` as a `ListenFailure` naming `host:port` when it is a bind failure (`setting`: the configuration key
    /// of the port, if any); otherwise `error` itself.
    static func naming(_ error: any Error, host: String, port: Int, setting: String? = nil) -> any Error {
        let choose = "choose another port with --port" + (setting.map { " or \($0)" } ?? "")
        guard let io = error as? IOError else { return error }
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let why =
            switch io.errnoCode {
            case EADDRINUSE: "the address is already in use (another process listens there; stop it or \(choose))"
            case EACCES: "permission denied (ports below 1024 need privileges; \(choose))"
            case EADDRNOTAVAIL: "the address is not one of this machine's (check the host)"
            default: "\(io.description)"
            }
        return ListenFailure(message: "cannot listen on \(address): \(why)")
    }
}
