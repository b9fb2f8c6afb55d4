import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PromptGateTestSupport
import Testing

/// Three `promptgate serve` processes on one PostgreSQL database (a private server) in front of two `comfy-sim`
/// processes, one gateway killed with SIGKILL halfway: every task completes, every prompt ran exactly once on a
/// simulator, every task is readable from every gateway left.
@Suite("Several gateways on one database (CLI)", .serialized)
struct GatewaysCLITests {
    typealias Server = ServeCLITests.Server

    @Test func threeGatewaysTwoSimsOneKilledEveryPromptRunsOnce() async throws {
        let database = try await PostgresCluster.shared().makeDatabase()
        let sims = try (0..<2).map { _ in
            try Server(arguments: ["comfy-sim", "--port", "0", "--run-seconds", "0.15"], shell: "exec 2>/dev/null")
        }
        defer { for sim in sims { _ = sim.stop() } }
        #expect(sims.allSatisfy { $0.port > 0 })
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        func config(_ index: Int) throws -> String {
            let path = folder.appendingPathComponent("gateway\(index).yaml")
            try """
            backends:
              - {name: sim0, url: "http://127.0.0.1:\(sims[0].port)", max_in_flight: 1}
              - {name: sim1, url: "http://127.0.0.1:\(sims[1].port)", max_in_flight: 1}
            comfyui: {health_interval: 0.1}
            workflow: {path: workflows/sd15-lora-txt2img.api.json}
            queue: {max_concurrent: 2, max_queue_size: 5000, retry_delay: 1}
            store: {url: "\(database)", lease_timeout: 5, sync_interval: 0.5}
            server: {output_dir: "\(folder.path)/output"}
            security: {rate_limit: {enabled: false}}
            logging: {file: "\(folder.path)/gateway\(index).log"}
            """.write(to: path, atomically: true, encoding: .utf8)
            return path.path
        }
        var gateways = try (0..<3).map { try Server(config: try config($0)) }
        defer { for gateway in gateways { _ = gateway.stop() } }
        for gateway in gateways where gateway.port == 0 {
            Issue.record("a gateway did not start: \(gateway.stop().stderr)")
            return
        }
        for gateway in gateways {
            for _ in 0..<200 {  // until its backends have been checked
                let backends = (try await gateway.json("/status")["dispatch"] as? [String: Any])?["backends"]
                if (backends as? [[String: Any]])?.allSatisfy({ $0["state"] as? String == "up" }) == true { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let victim = gateways[2]
        let victimName = try #require(
            (try await victim.json("/status")["gateways"] as? [[String: Any]])?.first { $0["this"] as? Bool == true }?[
                "name"] as? String)

        // 600 submissions, round-robin over the three gateways, six at a time.
        let ports = gateways.map(\.port)
        let accepted = try await withThrowingTaskGroup(of: [String: String].self) { group in
            for worker in 0..<6 {
                group.addTask {
                    var ids: [String: String] = [:]  // task id → prompt
                    for index in stride(from: worker, to: 600, by: 6) {
                        let prompt = "product shot \(index)"
                        var request = URLRequest(
                            url: URL(string: "http://127.0.0.1:\(ports[index % 3])/api/v1/generate")!)
                        request.httpMethod = "POST"
                        request.httpBody = Data(#"{"prompt": "\#(prompt)"}"#.utf8)
                        let (data, response) = try await URLSession.shared.data(for: request)
                        guard (response as? HTTPURLResponse)?.statusCode == 202,
                            let id = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["task_id"]
                                as? String
                        else { continue }
                        ids[id] = prompt
                    }
                    return ids
                }
            }
            return try await group.reduce(into: [String: String]()) { $0.merge($1) { first, _ in first } }
        }
        #expect(accepted.count == 600)

        // Halfway, while the victim holds runs: frozen (SIGSTOP, so it cannot finish them while we look), then
        // SIGKILL.
        var completedAtKill = 0
        var heldAtKill: [String] = []
        for _ in 0..<2000 {
            let tasks = try await gateways[0].everyTask()
            completedAtKill = tasks.values.filter { $0["status"] as? String == "completed" }.count
            if completedAtKill == 600 { break }  // too late to catch the victim holding runs: fail now, not later
            if completedAtKill >= 250 {
                kill(victim.process.processIdentifier, SIGSTOP)
                let listed = try await gateways[0].json("/status")["gateways"] as? [[String: Any]] ?? []
                heldAtKill = listed.first { $0["name"] as? String == victimName }?["leases"] as? [String] ?? []
                if !heldAtKill.isEmpty { break }
                kill(victim.process.processIdentifier, SIGCONT)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(completedAtKill >= 250 && completedAtKill < 600 && !heldAtKill.isEmpty)
        kill(victim.process.processIdentifier, SIGKILL)
        victim.process.waitUntilExit()
        #expect(victim.process.terminationReason == .uncaughtSignal)
        gateways.removeLast()
        _ = victim.stop()

        // Everything completes on the two left (the victim's runs are taken over once its leases lapse).
        var tasks: [String: [String: Any]] = [:]
        for _ in 0..<1200 {
            tasks = try await gateways[0].everyTask()
            if tasks.values.allSatisfy({ $0["status"] as? String == "completed" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Set(tasks.keys) == Set(accepted.keys))
        let unfinished = tasks.filter { $0.value["status"] as? String != "completed" }
        #expect(unfinished.isEmpty, "\(unfinished.count) not completed: \(unfinished.prefix(3))")
        // Every task is readable from both gateways left, the same.
        let other = try await gateways[1].everyTask()
        #expect(Set(other.keys) == Set(accepted.keys))
        #expect(other.values.allSatisfy { $0["status"] as? String == "completed" })

        // Count the runs on the simulators: each task's prompt ran exactly once.
        var runs: [String: Int] = [:]
        for sim in sims {
            for promptID in try await sim.json("/sim/executed")["prompt_ids"] as? [String] ?? [] {
                runs[promptID, default: 0] += 1
            }
        }
        var ranTwice: [String] = []
        for (id, task) in tasks {
            let promptIDs = (task["attempts"] as? [[String: Any]] ?? []).compactMap { $0["prompt_id"] as? String }
            let executions = promptIDs.reduce(0) { $0 + (runs[$1] ?? 0) }
            if executions != 1 { ranTwice.append("\(id): \(executions) runs over \(promptIDs.count) attempts") }
        }
        #expect(ranTwice.isEmpty, "\(ranTwice.prefix(5))")
        #expect(runs.values.reduce(0, +) == 600)
        // The runs the victim held were finished by the survivors, from their first attempt (followed, not sent
        // again), and name the gateway that took them over.
        for id in heldAtKill {
            let attempt = (tasks[id]?["attempts"] as? [[String: Any]])?.last
            #expect(attempt?["gateway"] as? String != victimName, "\(tasks[id] ?? [:])")
        }
        // The survivors took the victim's runs over, and see it as gone.
        let logs = try (0..<2).map {
            try String(contentsOfFile: folder.path + "/gateway\($0).log", encoding: .utf8)
        }
        #expect(
            logs.contains { $0.contains("took over the runs of a gateway that stopped") },
            "\(logs.flatMap { $0.split(separator: "\n").filter { !$0.contains("\"info\"") } }.prefix(20))")
        let listed = try await gateways[0].json("/status")["gateways"] as? [[String: Any]] ?? []
        #expect(listed.first { $0["name"] as? String == victimName }?["alive"] as? Bool == false)
        for gateway in gateways { #expect(gateway.stop().status == 0) }
    }
}
