import Foundation
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
    /// Nothing is built when nobody listens.
    func send(_ type: String, _ data: @autoclosure () -> [String: Any], to clientID: String?) {
        let targets = listeners(clientID)
        guard !targets.isEmpty else { return }
        let text = SimJSON.text(["type": type, "data": data()])
        for target in targets { target.yield(text) }
    }

    /// `progress` and `executing`, the frequent events, with concrete types (cheaper than a dictionary).
    func sendStep(_ event: Step, to clientID: String?) {
        let targets = listeners(clientID)
        guard !targets.isEmpty, let bytes = try? Self.encoder.encode(event) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        for target in targets { target.yield(text) }
    }

    struct Step: Encodable {
        struct Data: Encodable {
            var value: Int?
            var max: Int?
            var node: String?
            var display_node: String?
            var prompt_id: String

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encodeIfPresent(value, forKey: .value)
                try container.encodeIfPresent(max, forKey: .max)
                try container.encode(node, forKey: .node)  // `executing` ends with an explicit null
                try container.encodeIfPresent(display_node, forKey: .display_node)
                try container.encode(prompt_id, forKey: .prompt_id)
            }

            enum CodingKeys: String, CodingKey { case value, max, node, display_node, prompt_id }
        }

        var type: String
        var data: Data

        static func progress(_ value: Int, of max: Int, node: String, prompt: String) -> Step {
            Step(type: "progress", data: Data(value: value, max: max, node: node, prompt_id: prompt))
        }

        static func executing(_ node: String?, prompt: String) -> Step {
            Step(type: "executing", data: Data(node: node, display_node: node, prompt_id: prompt))
        }
    }

    /// Whether any socket listens to `clientID`.
    func hasListeners(_ clientID: String?) -> Bool { !listeners(clientID).isEmpty }

    private func listeners(_ clientID: String?) -> [AsyncStream<String>.Continuation] {
        sockets.withLock { sockets in
            if let clientID { return Array(sockets[clientID, default: [:]].values) }
            return sockets.values.flatMap { $0.values }
        }
    }

    private static let encoder = JSONEncoder()
}
