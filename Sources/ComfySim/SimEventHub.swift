import Foundation
import PromptGateCore
import Synchronization

/// The WebSocket side of ComfySim: sockets by `clientId`, and the events of a run sent in ComfyUI's order.
/// A socket's handler drains its own stream, so emitting never waits on the network.
final class SimEventHub: Sendable {
    private let sockets = Mutex<[String: [UUID: AsyncStream<String>.Continuation]]>([:])

    /// Registers a socket; the stream ends when `remove` is called.
    func add(clientID: String) -> (UUID, AsyncStream<String>) {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = UUID()
        sockets.withLock { $0[clientID, default: [:]][id] = continuation }
        return (id, stream)
    }

    func remove(clientID: String, id: UUID) {
        let continuation = sockets.withLock { $0[clientID]?.removeValue(forKey: id) }
        continuation?.finish()
    }

    /// Sends `{"type", "data"}` to every socket of `clientID` (nil: to everyone, like ComfyUI's broadcasts).
    func send(_ type: String, _ data: JSONValue, to clientID: String?) {
        let message: JSONValue = ["type": .string(type), "data": data]
        guard let bytes = try? JSONEncoder().encode(message) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let targets = sockets.withLock { sockets -> [AsyncStream<String>.Continuation] in
            if let clientID { return Array(sockets[clientID, default: [:]].values) }
            return sockets.values.flatMap { $0.values }
        }
        for target in targets { target.yield(text) }
    }

    static func timestamp() -> JSONValue { .number((Date().timeIntervalSince1970 * 1000).rounded()) }
}
