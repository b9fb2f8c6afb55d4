import Foundation
@testable import PromptGateClient
import Synchronization
import Testing

@Suite("Batch progress")
struct BatchProgressTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func add(_ line: String) { lines.withLock { $0.append(line) } }
    }

    func row(_ id: String) -> BatchRow { BatchRow(id: id, request: [:], origin: "line 1") }

    @Test func countsFollowEachRowAndEachEndIsOneLine() {
        let output = Lines(), status = Lines()
        let progress = BatchProgress(total: 4, live: false, output: output.add, status: status.add)
        for id in ["a", "b", "c"] { progress.update(row(id), status: "unsent") }
        progress.skipped(row("d"))
        progress.update(row("a"), status: "queued")
        progress.update(row("a"), status: "running")
        progress.update(row("b"), status: "queued")
        #expect(progress.counts.unsent == 1 && progress.counts.queued == 1 && progress.counts.running == 1)
        progress.ended(
            row("a"),
            BatchRecord(
                row: "a", task_id: "t1", status: "completed", seed: 7, files: ["a_0.png", "a_1.png"], attempts: 1,
                seconds: 1.25))
        progress.ended(
            row("b"),
            BatchRecord(
                row: "b", task_id: nil, status: "refused", files: [],
                error: .init(code: "policy.blocked", message: "blocked"), attempts: 0))
        let counts = progress.counts
        #expect(counts.done == 2 && counts.skipped == 1 && counts.failed == 1 && counts.images == 2)
        #expect(counts.running == 0 && counts.queued == 0 && counts.unsent == 1)
        #expect(
            output.all == [
                "d skipped: done before", "a completed task t1 → a_0.png, a_1.png (1.2 s)",
                "b refused: policy.blocked: blocked",
            ])
        #expect(status.all.isEmpty)  // no status line off a terminal
        #expect(
            progress.line().hasPrefix("[###############.....] 2/4 done · 1 failed · 0 running · 0 queued · 1 to send"))
    }

    @Test func onATerminalTheStatusLineIsRedrawnInPlace() {
        let output = Lines(), status = Lines()
        let progress = BatchProgress(total: 1, live: true, output: output.add, status: status.add)
        progress.ended(row("a"), BatchRecord(row: "a", status: "completed", files: ["a_0.png"], attempts: 1))
        progress.finish()
        #expect(output.all.isEmpty)
        #expect(status.all.first?.hasPrefix("\r\u{1B}[2K[####################] 1/1 done") == true)
        #expect(status.all.last?.hasSuffix("\n") == true)
    }
}
