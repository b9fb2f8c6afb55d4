import PromptGateCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PromptGateDispatch

/// `GET /api/v1/task/{id}/events`: a task's life as Server-Sent Events. Each event is named for the task's
/// status (`queued`, `running`, `completed`, `failed`, `cancelled`, `expired`) and carries the task as
/// `GET /api/v1/task/{id}` shows it; a new one is sent whenever what it shows changes (queue position, progress
/// by tenths of a percent, attempt, status), never with lower progress, and the stream ends after the
/// terminal event. The event id names the state (`attempt.phase.position-or-progress`), so a client that
/// reconnects with `Last-Event-ID` is not sent the state it already has; one that saw the end gets 204, which
/// tells a stock client to stop. A comment line every `heartbeat` keeps proxies from closing a quiet stream.
struct TaskEventStream {
    let dispatcher: Dispatcher
    let id: String
    let imageBase: String
    /// Where `base64` images are read from (only the terminal event carries them).
    let inline: TaskResponse.Inline?
    let heartbeat: Duration
    let lastEventID: String?

    /// How often a live task is looked at again (progress comes from the backend, not from stored changes);
    /// an end stored by this gateway is sent at once.
    static let interval: Duration = .milliseconds(250)
    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!

    /// What one event says: its name and its id.
    struct Mark: Equatable {
        var name: String
        var id: String

        init(_ view: Dispatcher.TaskView) {
            let task = view.task
            let (phase, detail): (Int, Int) =
                switch task.status {
                case .queued: (0, view.position ?? 0)
                case .running: (1, Int(((view.progress ?? 0) * 1000).rounded(.down)))
                case .completed, .failed, .cancelled, .expired: (2, 0)
                }
            name = task.status.rawValue
            id = "\(task.attempts).\(phase).\(detail)"
        }

        /// Whether an event id names a terminal state.
        static func isTerminal(_ id: String) -> Bool { id.split(separator: ".").dropFirst().first == "2" }
    }

    /// The stream, starting from `view`; 204 when the client already saw the end.
    func response(from view: Dispatcher.TaskView) -> Response {
        if view.task.status.isTerminal, let lastEventID, Mark.isTerminal(lastEventID) {
            return Response(status: .noContent)
        }
        var headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache",
        ]
        headers[Self.accelBuffering] = "no"
        let stream = self
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in try await stream.write(startingFrom: view, to: &writer) })
    }

    private func write(startingFrom first: Dispatcher.TaskView, to writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
        var sent = lastEventID
        var view = first
        var quietSince = ContinuousClock.now
        while true {
            let mark = Mark(view)
            if mark.id != sent {
                // Only the last event carries a base64 task's images (read off the event loop).
                let inline = view.task.status.isTerminal ? await self.inline?.load(view.task) : nil
                try await writer.write(event(mark, view, inline: inline))
                sent = mark.id
                quietSince = .now
            }
            if view.task.status.isTerminal { break }
            if ContinuousClock.now - quietSince >= heartbeat {
                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                quietSince = .now
            }
            let untilHeartbeat = heartbeat - (ContinuousClock.now - quietSince)
            _ = await dispatcher.waitForEnd(id: id, upTo: max(.milliseconds(1), min(Self.interval, untilHeartbeat)))
            guard !Task.isCancelled, let next = await dispatcher.view(id: id) else { break }
            view = next
        }
        try await writer.finish(nil)
    }

    private func event(_ mark: Mark, _ view: Dispatcher.TaskView, inline: TaskResponse.Loaded?) -> ByteBuffer {
        let shown = TaskResponse(view, imageBase: imageBase, inline: inline)
        let data = (try? JSONWriter.encode(shown)) ?? Array("{}".utf8)
        var buffer = ByteBuffer(string: "id: \(mark.id)\nevent: \(mark.name)\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}
