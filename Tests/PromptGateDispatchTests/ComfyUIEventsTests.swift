import Foundation
@testable import PromptGateDispatch
import PromptGateTestSupport
import Testing

/// ComfyUI v0.3.64's own WebSocket sequences and `/history` answers (Tests/Fixtures/comfyui), replayed.
@Suite struct ComfyUIEventsTests {
    /// One recorded capture file, as JSON objects.
    static func capture(_ name: String) throws -> [String: Any] {
        let url = TestSupport.packageRoot.appendingPathComponent("Tests/Fixtures/comfyui/capture-v0.3.64-\(name).json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// The text events of a recorded scenario, as sent, and the prompt id they are about.
    static func scenario(_ name: String) throws -> (promptID: String, events: [String]) {
        let scenarios = try #require(try capture("websocket")["scenarios"] as? [String: Any])
        let messages = try #require((scenarios[name] as? [String: Any])?["messages"] as? [[String: Any]])
        let texts = try messages.compactMap { $0["text"] }.map {
            try #require(String(data: JSONSerialization.data(withJSONObject: $0), encoding: .utf8))
        }
        let ids = try #require(try capture("websocket")["ids"] as? [String: String])
        return (try #require(ids[name]), texts)
    }

    /// What `/history` recorded for a prompt, read the way `ComfyUIClient.history` reads it.
    static func history(_ key: String, promptID: String) throws -> ComfyUIHistory {
        let body = try #require((try capture("http")[key] as? [String: Any])?["body"])
        let entries = try JSONDecoder().decode(
            [String: ComfyUIClient.HistoryEntry].self, from: JSONSerialization.data(withJSONObject: body))
        return ComfyUIHistory(try #require(entries[promptID]))
    }

    static func replay(_ events: [String], watching promptID: String) -> ComfyUIEvents {
        let socket = ComfyUIEvents(baseURL: "http://127.0.0.1:1", clientID: "test")
        socket.watch(promptID)
        for event in events { socket.handle(event) }
        return socket
    }

    /// Successful runs: the socket's result is the history entry, files, order and types alike (a fully cached
    /// re-run included: ComfyUI re-sends `executed` for cached output nodes; `chain_flags` is `chain` again).
    @Test(arguments: [
        ("weightfree", "history_weightfree", "weightfree"), ("again", "history_weightfree_again", "again"),
        ("chain", "history_chain", "chain"), ("chain_flags", "history_chain", "chain"),
    ])
    func aWholeSuccessfulRunIsItsHistory(scenario name: String, history key: String, of recordedRun: String)
        async throws
    {
        let (promptID, events) = try Self.scenario(name)
        let recorded = try Self.history(key, promptID: try Self.scenario(recordedRun).promptID)
        #expect(recorded.outcome == .success && !recorded.outputs.isEmpty)
        let socket = Self.replay(events, watching: promptID)
        #expect(socket.result(promptID) == recorded)
        await socket.wait(for: promptID, upTo: .seconds(600))  // the run ended: returns at once
    }

    /// The accepted half of a partly invalid graph: only the valid output node ran and is reported.
    @Test func aPartlyValidGraphReportsWhatRan() throws {
        let (promptID, events) = try Self.scenario("partial")
        let result = try #require(Self.replay(events, watching: promptID).result(promptID))
        #expect(
            result.outputs == [
                ComfyUIOutput(node: "2", filename: "red_00002_.png", subfolder: "weightfree", type: "output")
            ])
    }

    /// A failed or interrupted run has no result from the socket (`/history` decides), but the wait ends.
    @Test(arguments: ["runtime_error", "slow"])
    func aRunThatDidNotSucceedIsLeftToHistory(scenario name: String) async throws {
        let (promptID, events) = try Self.scenario(name)
        let socket = Self.replay(events, watching: promptID)
        #expect(socket.result(promptID) == nil)
        await socket.wait(for: promptID, upTo: .seconds(600))
    }

    /// Events that may be incomplete are no evidence: a socket that dropped during the run, one that connected
    /// after `execution_start`, a prompt nobody watched, one forgotten.
    @Test(arguments: ["drop after start", "drop before success", "joined mid-run", "not watched", "forgotten"])
    func partialEvidenceGivesNoResult(_ case: String) throws {
        let (promptID, events) = try Self.scenario("weightfree")
        let success = try #require(events.lastIndex { $0.contains("execution_success") })
        let socket = ComfyUIEvents(baseURL: "http://127.0.0.1:1", clientID: "test")
        if `case` != "not watched" { socket.watch(promptID) }
        for (index, event) in events.enumerated() {
            if `case` == "joined mid-run", index == 0 { continue }
            if `case` == "drop after start", index == 1 { socket.disconnected() }
            if `case` == "drop before success", index == success { socket.disconnected() }
            socket.handle(event)
        }
        if `case` == "forgotten" { socket.forget(promptID) }
        #expect(socket.result(promptID) == nil)
    }

    /// The same prompt id run again (a retry on this backend) starts a fresh record at its `execution_start`.
    @Test func aNewRunReplacesTheOldRecord() throws {
        let (promptID, events) = try Self.scenario("weightfree")
        let socket = Self.replay(events, watching: promptID)
        #expect(socket.result(promptID) != nil)
        socket.handle(events[0])  // execution_start again
        #expect(socket.result(promptID) == nil)
    }
}
