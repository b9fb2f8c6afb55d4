import Foundation
import Logging
import Synchronization
import HummingbirdWSClient

/// ComfyUI's WebSocket (`/ws?clientId=<id>`) for one backend: sampler progress and the end of our prompts as
/// they happen. A successful run the socket saw whole (from `execution_start` to `execution_success` on one
/// connection) is its own result: the `executed` events name every output file (ComfyUI writes the file
/// before it sends the event, and re-sends it for cached output nodes), so the attempt collects at once,
/// without waiting for the history entry ComfyUI writes after the run. Anything less (a failure, an
/// interrupt, a socket that dropped or connected mid-run) only wakes the poll loop, and `/history` decides.
/// Reconnects by itself.
public final class ComfyUIEvents: Sendable {
    /// `ws://host:port/ws?clientId=...` (`wss` for an https backend).
    public let url: String

    private enum Waiter {
        case pending
        case registered(CheckedContinuation<Void, Never>)
        case cancelled
    }

    /// What the socket saw of one watched prompt's run on the current connection.
    private struct Run {
        /// What each node's `executed` event named (a node reports once per run).
        var outputs: [String: ComfyUIClient.HistoryEntry.Kinds] = [:]
        /// `execution_success` arrived after `execution_start` on this connection.
        var succeeded = false
    }

    private struct State {
        /// Prompt ids an attempt is waiting on; events for other ids are ignored (no unbounded memory).
        var watched: Set<String> = []
        /// Runs seen from their `execution_start` on the current connection (cleared when it drops).
        var runs: [String: Run] = [:]
        var finished: Set<String> = []
        var progress: [String: Double] = [:]
        var waiters: [String: Set<UUID>] = [:]
        var tokens: [UUID: Waiter] = [:]
        var connected = false
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - baseURL: the backend's HTTP URL.
    ///   - clientID: the `client_id` our `POST /prompt` calls use (events go to the socket with that id).
    public init(baseURL: String, clientID: String) {
        var base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        if base.hasPrefix("https://") {
            base = "wss://" + base.dropFirst(8)
        } else if base.hasPrefix("http://") {
            base = "ws://" + base.dropFirst(7)
        }
        let id = clientID.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? clientID
        url = "\(base)/ws?clientId=\(id)"
    }

    /// Whether the socket is open now.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Keeps the socket open until cancelled, reconnecting a second after it drops or fails to open.
    public func run(logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await WebSocketClient.connect(url: url, logger: logger) { inbound, _, _ in
                    self.state.withLock { $0.connected = true }
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        // Binary frames are previews; only text events matter here.
                        if case .text(let text) = message { self.handle(text) }
                    }
                }
            } catch {
                logger.debug("ComfyUI WebSocket failed", metadata: ["url": "\(url)", "error": "\(error)"])
            }
            disconnected()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The socket closed: events sent while none is open are lost, so a run seen in part is no longer evidence.
    func disconnected() {
        state.withLock { state in
            state.connected = false
            state.runs = [:]
        }
    }

    /// Starts recording events for a prompt (before it is sent).
    public func watch(_ promptID: String) {
        _ = state.withLock { $0.watched.insert(promptID) }
    }

    /// Stops recording events for a prompt and drops what was recorded.
    public func forget(_ promptID: String) {
        state.withLock { state in
            state.watched.remove(promptID)
            state.finished.remove(promptID)
            state.runs[promptID] = nil
            state.progress[promptID] = nil
        }
    }

    /// The result of a watched prompt that succeeded, when the socket saw its whole run: the outputs the
    /// `executed` events named. Nil while it runs, after a failure or interrupt, or when events may be missing.
    public func result(_ promptID: String) -> ComfyUIHistory? {
        state.withLock { state in
            guard let run = state.runs[promptID], run.succeeded else { return nil }
            return ComfyUIHistory(outcome: .success, outputs: ComfyUIHistory.outputs(run.outputs), error: nil)
        }
    }

    /// Sampler progress (0...1) of a watched prompt, when an event has reported one.
    public func progress(_ promptID: String) -> Double? { state.withLock { $0.progress[promptID] } }

    /// Returns when the prompt's run has ended according to the events, or after `timeout`, whichever is first.
    public func wait(for promptID: String, upTo timeout: Duration) async {
        let token = UUID()
        let done = state.withLock { state -> Bool in
            if state.finished.contains(promptID) { return true }
            state.tokens[token] = .pending
            state.waiters[promptID, default: []].insert(token)
            return false
        }
        if done { return }
        defer {
            state.withLock { state in
                state.tokens[token] = nil
                state.waiters[promptID]?.remove(token)
                if state.waiters[promptID]?.isEmpty == true { state.waiters[promptID] = nil }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.signal(promptID, token: token) }
            await group.next()
            group.cancelAll()
        }
    }

    private func signal(_ promptID: String, token: UUID) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard case .pending? = state.tokens[token], !state.finished.contains(promptID) else { return true }
                    state.tokens[token] = .registered(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                switch state.tokens[token] {
                case .registered(let continuation)?:
                    state.tokens[token] = nil
                    return continuation
                case .pending?:
                    state.tokens[token] = .cancelled
                    return nil
                default:
                    return nil
                }
            }
            continuation?.resume()
        }
    }

    /// One text event: `progress` records the sampler's step; `execution_start`, `executed` and
    /// `execution_success` record the run; `execution_success` and `executing` with `node: null` end it.
    func handle(_ text: String) {
        guard let event = try? Self.decoder.decode(Event.self, from: Data(text.utf8)),
            let promptID = event.data?.promptID
        else { return }
        switch event.type {
        case "execution_start":
            state.withLock { state in
                if state.watched.contains(promptID) { state.runs[promptID] = Run() }
            }
        case "executed":
            guard let node = event.data?.node, let output = event.data?.output else { return }
            state.withLock { state in state.runs[promptID]?.outputs[node] = output }
        case "execution_success":
            let continuations = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard state.runs[promptID] != nil else { return [] }
                state.runs[promptID]?.succeeded = true
                return Self.finish(promptID, in: &state)
            }
            for continuation in continuations { continuation.resume() }
        case "progress":
            guard let value = event.data?.value, let max = event.data?.max, max > 0 else { return }
            state.withLock { state in
                if state.watched.contains(promptID) { state.progress[promptID] = min(1, value / max) }
            }
        case "executing" where event.data?.nodeIsNull == true:
            let continuations = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard state.watched.contains(promptID) else { return [] }
                return Self.finish(promptID, in: &state)
            }
            for continuation in continuations { continuation.resume() }
        default:
            return
        }
    }

    /// Marks a watched prompt's run as ended and hands back its waiters to resume (outside the lock).
    private static func finish(_ promptID: String, in state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.finished.insert(promptID)
        var ready: [CheckedContinuation<Void, Never>] = []
        for token in state.waiters[promptID] ?? [] {
            if case .registered(let continuation)? = state.tokens[token] {
                state.tokens[token] = nil
                ready.append(continuation)
            }
        }
        return ready
    }

    private static let decoder = JSONDecoder()

    /// The fields of an event this reads, decoded with concrete types (events arrive by the dozen per run);
    /// anything else in the message is skipped.
    struct Event: Decodable {
        struct Payload: Decodable {
            var promptID: String?
            var value: Double?
            var max: Double?
            /// `node` present and null: the end of a run.
            var nodeIsNull: Bool
            /// The node id (`executed`, `executing`).
            var node: String?
            /// `executed`'s UI output: kind (`images`, `gifs`...) → items, files among them.
            var output: ComfyUIClient.HistoryEntry.Kinds?

            enum CodingKeys: String, CodingKey { case promptID = "prompt_id", value, max, node, output }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                promptID = try? container.decodeIfPresent(String.self, forKey: .promptID)
                value = try? container.decodeIfPresent(Double.self, forKey: .value)
                max = try? container.decodeIfPresent(Double.self, forKey: .max)
                nodeIsNull = container.contains(.node) && ((try? container.decodeNil(forKey: .node)) ?? false)
                node = try? container.decodeIfPresent(String.self, forKey: .node)
                output = try? container.decodeIfPresent(ComfyUIClient.HistoryEntry.Kinds.self, forKey: .output)
            }
        }

        var type: String
        var data: Payload?
    }
}
