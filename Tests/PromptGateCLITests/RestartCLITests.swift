import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PromptGateTestSupport
import Testing

/// `kill -9` of a real `promptgate serve` with a deep queue and runs in progress on a real `comfy-sim` process,
/// then a restart on the same store.
@Suite("promptgate serve: nothing accepted is lost (CLI)", .serialized)
struct RestartCLITests {
    typealias Server = ServeCLITests.Server

    @Test func sigkillWithAThousandQueuedLosesNothingAndRunsNothingTwice() async throws {
        // The sim logs to /dev/null: nobody drains its pipes during the test.
        let sim = try Server(
            arguments: ["comfy-sim", "--port", "0", "--run-seconds", "0.5"], shell: "exec 2>/dev/null")
        defer { _ = sim.stop() }
        #expect(sim.port > 0)
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try """
        comfyui: {base_url: "http://127.0.0.1:\(sim.port)", health_interval: 0.1}
        workflow: {path: workflows/sd15-lora-txt2img.api.json}
        queue: {max_concurrent: 2, max_queue_size: 5000}
        store: {path: "\(folder.path)/promptgate.sqlite"}
        server: {output_dir: "\(folder.path)/output"}
        security: {rate_limit: {enabled: false}}
        logging: {file: "\(folder.path)/gateway.log"}
        """.write(to: config, atomically: true, encoding: .utf8)

        var gateway = try Server(config: config.path)
        #expect(gateway.port > 0)
        for _ in 0..<200 {  // until the backend has been checked
            if (try await gateway.json("/status")["dispatch"] as? [String: Any]).map({ "\($0)".contains("up") })
                == true
            {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // 1,000 accepted submissions, eight at a time.
        let port = gateway.port
        let accepted = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var ids: [String] = []
                    for index in stride(from: worker, to: 1000, by: 8) {
                        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/generate")!)
                        request.httpMethod = "POST"
                        request.httpBody = Data(#"{"prompt": "product shot \#(index)"}"#.utf8)
                        let (data, response) = try await URLSession.shared.data(for: request)
                        guard (response as? HTTPURLResponse)?.statusCode == 202,
                            let id = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["task_id"]
                                as? String
                        else { continue }
                        ids.append(id)
                    }
                    return ids
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.formUnion($1) }
        }
        #expect(accepted.count == 1000)
        // Some done, some running, the rest queued: then SIGKILL.
        var before: [String: [String: Any]] = [:]
        for _ in 0..<400 {
            before = try await gateway.everyTask()
            let completed = before.values.filter { $0["status"] as? String == "completed" }.count
            let running = before.values.filter { $0["status"] as? String == "running" }.count
            if completed >= 2 && running >= 1 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        kill(gateway.process.processIdentifier, SIGKILL)
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationReason == .uncaughtSignal)
        let completedBefore = Set(before.filter { $0.value["status"] as? String == "completed" }.keys)
        #expect(completedBefore.count >= 2)
        // What ComfyUI holds at the kill, read while no gateway runs: the restarted gateway starts queued tasks
        // at once, so a later read would also see prompts it sent itself.
        let simQueue = try await sim.json("/queue")
        let heldAtKill = ((simQueue["queue_running"] as? [[Any]] ?? []) + (simQueue["queue_pending"] as? [[Any]] ?? []))
            .compactMap { $0.count > 1 ? $0[1] as? String : nil }

        // Restart on the same store: every accepted task is known.
        let restartedAt = Date()
        gateway = try Server(config: config.path)
        defer { _ = gateway.stop() }
        #expect(gateway.port > 0)
        #expect(Date().timeIntervalSince(restartedAt) < 60)  // ready (listening) at all; speed is the benchmark's
        let after = try await gateway.everyTask()
        #expect(Set(after.keys) == accepted, "\(after.count) of \(accepted.count) known after restart")
        // What had completed stays completed, from its one attempt.
        for id in completedBefore {
            #expect(after[id]?["status"] as? String == "completed" && after[id]?["attempt"] as? Int == 1, "\(id)")
        }
        // What ComfyUI held at the kill is owned: each prompt is the first attempt of a task the restarted gateway
        // follows (running) or has already collected (completed), never one it would queue and send again.
        for promptID in heldAtKill {
            let status = after[promptID]?["status"] as? String
            #expect(
                (status == "running" || status == "completed") && after[promptID]?["attempt"] as? Int == 1,
                "orphaned prompt \(promptID): \(status ?? "unknown")")
        }
        // The runs in progress at the kill are followed to their end, not sent again (still attempt 1).
        let runningAtKill = before.filter { $0.value["status"] as? String == "running" }.map(\.key)
        for id in runningAtKill {
            var task: [String: Any] = [:]
            for _ in 0..<400 {
                task = try await gateway.json("/api/v1/task/\(id)")
                if task["status"] as? String == "completed" { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(task["status"] as? String == "completed" && task["attempt"] as? Int == 1, "\(task)")
        }
        let (status, _) = gateway.stop()
        #expect(status == 0)
        let log = try String(contentsOfFile: folder.path + "/gateway.log", encoding: .utf8)
        #expect(log.contains("recovered tasks from the store"))
    }
}
