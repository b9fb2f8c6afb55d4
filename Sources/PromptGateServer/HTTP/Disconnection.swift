import Synchronization

/// That a client went away while its request was being answered: `close` (from the inbound-close handler)
/// runs the handler `onClose` registered, once, whichever of the two comes first.
final class Disconnection: Sendable {
    private struct State {
        var closed = false
        var handler: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// The client's side of the connection closed.
    func close() {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            state.closed = true
            defer { state.handler = nil }
            return state.handler
        }
        handler?()
    }

    /// Runs `handler` when the client goes away (at once when it already has).
    func onClose(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.closed { return true }
            state.handler = handler
            return false
        }
        if now { handler() }
    }
}
