import Foundation
import PromptGateDispatch
import Synchronization

/// What a batch run shows while it works. On a terminal: one status line redrawn in place (done / failed /
/// running / queued, images per minute, ETA). Otherwise: one line per row as it ends, for logs and pipes.
public final class BatchProgress: Sendable {
    /// Where rows stand (for the status line and the final counts).
    public struct Counts: Sendable, Equatable {
        /// Rows in the batch.
        public var total = 0
        /// Rows completed (in this run or already before it).
        public var done = 0
        /// Rows skipped because an earlier run completed them.
        public var skipped = 0
        /// Rows that ended without images.
        public var failed = 0
        /// Rows whose task runs on a GPU now.
        public var running = 0
        /// Rows whose task waits in the gateway's queue.
        public var queued = 0
        /// Rows not sent yet (waiting for a free place among `--concurrency`).
        public var unsent = 0
        /// Images written in this run.
        public var images = 0
    }

    private struct State {
        var counts = Counts()
        /// Each unfinished row's last known task status.
        var phase: [String: String] = [:]
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    private let state = Mutex(State())
    private let live: Bool
    private let started = ContinuousClock.now
    private let output: @Sendable (String) -> Void
    private let status: @Sendable (String) -> Void

    /// - Parameters:
    ///   - total: rows in the batch.
    ///   - live: redraw a status line (a terminal) instead of printing a line per row.
    ///   - output: where per-row lines go (standard output).
    ///   - status: where the status line goes (standard error), written as given (it carries `\r`).
    public init(
        total: Int, live: Bool, output: @escaping @Sendable (String) -> Void,
        status: @escaping @Sendable (String) -> Void
    ) {
        self.live = live
        self.output = output
        self.status = status
        state.withLock { $0.counts.total = total }
    }

    /// The counts now.
    public var counts: Counts { state.withLock { $0.counts } }

    /// A row skipped: done before this run.
    public func skipped(_ row: BatchRow) {
        state.withLock {
            $0.counts.skipped += 1
            $0.counts.done += 1
        }
        if !live { output("\(row.id) skipped: done before") }
        draw()
    }

    /// A row is `unsent` (before its submission), or its task is `queued` or `running`.
    public func update(_ row: BatchRow, status phase: String) {
        let changed = state.withLock { state -> Bool in
            let before = state.phase[row.id]
            guard before != phase else { return false }
            if let before { Self.adjust(&state.counts, before, by: -1) }
            Self.adjust(&state.counts, phase, by: 1)
            state.phase[row.id] = phase
            return true
        }
        if changed { draw() }
    }

    /// A row ended.
    public func ended(_ row: BatchRow, _ record: BatchRecord) {
        state.withLock { state in
            if let before = state.phase.removeValue(forKey: row.id) { Self.adjust(&state.counts, before, by: -1) }
            if record.status == "completed" {
                state.counts.done += 1
                state.counts.images += record.files.count
            } else {
                state.counts.failed += 1
            }
        }
        if !live {
            var line = "\(row.id) \(record.status)"
            if let id = record.task_id { line += " task \(id)" }
            if !record.files.isEmpty { line += " → " + record.files.joined(separator: ", ") }
            if let error = record.error { line += ": \(error.code): \(error.message)" }
            if let seconds = record.seconds { line += String(format: " (%.1f s)", seconds) }
            output(line)
        }
        draw(force: true)
    }

    /// The last status line, ended with a newline (on a terminal).
    public func finish() {
        guard live else { return }
        status("\r" + line() + "\n")
    }

    private static func adjust(_ counts: inout Counts, _ phase: String, by delta: Int) {
        switch phase {
        case "running": counts.running += delta
        case "queued": counts.queued += delta
        case "unsent": counts.unsent += delta
        default: break
        }
    }

    private func draw(force: Bool = false) {
        guard live else { return }
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard force || now - state.lastDraw >= .milliseconds(200) else { return false }
            state.lastDraw = now
            return true
        }
        if due { status("\r\u{1B}[2K" + line()) }
    }

    /// `[#####.....] 120/1000 done · 2 failed · 4 running · 4 queued · 870 to send · 35.2 img/min · ETA 25m`.
    func line() -> String {
        let counts = self.counts
        let ended = counts.done + counts.failed
        let width = 20
        let filled = counts.total == 0 ? width : min(width, ended * width / counts.total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let minutes = max((ContinuousClock.now - started).seconds / 60, 1e-9)
        let perMinute = Double(counts.images) / minutes
        let rowsPerMinute = Double(ended - counts.skipped) / minutes
        let left = counts.total - ended
        var text =
            "[\(bar)] \(counts.done)/\(counts.total) done · \(counts.failed) failed · \(counts.running) running · "
            + "\(counts.queued) queued · \(counts.unsent) to send · " + String(format: "%.1f img/min", perMinute)
        if left > 0, rowsPerMinute > 0 {
            let eta = Int((Double(left) / rowsPerMinute * 60).rounded())
            text +=
                " · ETA "
                + (eta >= 3600 ? "\(eta / 3600)h\((eta % 3600) / 60)m" : eta >= 60 ? "\(eta / 60)m" : "\(eta)s")
        }
        return text
    }
}
