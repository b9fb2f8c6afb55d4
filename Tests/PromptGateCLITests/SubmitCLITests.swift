import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PromptGateTestSupport
import Testing

/// `promptgate submit` end to end: real `comfy-sim` and `serve` processes, a product CSV, reruns, a kill.
@Suite("promptgate submit (CLI)", .serialized)
struct SubmitCLITests {
    typealias Server = ServeCLITests.Server

    /// A sim and a gateway in front of it (logs to files, so nobody has to drain their pipes).
    final class Gateway {
        let sim: Server
        let gateway: Server
        let folder: URL

        init(runSeconds: Double = 0.05, security: String = "{rate_limit: {enabled: false}}") throws {
            folder = try TestSupport.temporaryDirectory()
            sim = try Server(
                arguments: ["comfy-sim", "--port", "0", "--run-seconds", "\(runSeconds)"], shell: "exec 2>/dev/null")
            let config = folder.appendingPathComponent("config.yaml")
            try """
            comfyui: {base_url: "http://127.0.0.1:\(sim.port)", health_interval: 0.1}
            queue: {max_concurrent: 4, max_queue_size: 5000}
            store: {path: "\(folder.path)/promptgate.sqlite"}
            server: {output_dir: "\(folder.path)/output"}
            security: \(security)
            logging: {file: "\(folder.path)/gateway.log"}
            """.write(to: config, atomically: true, encoding: .utf8)
            gateway = try Server(config: config.path)
        }

        var url: String { "http://127.0.0.1:\(gateway.port)" }

        /// Every task the gateway holds (those of `key` when keys are on).
        func taskCount(key: String? = nil) async throws -> Int {
            var count = 0
            var cursor: String?
            repeat {
                var request = URLRequest(
                    url: URL(string: url + "/api/v1/tasks?limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""))!)
                if let key { request.setValue(key, forHTTPHeaderField: "X-API-Key") }
                let (data, response) = try await URLSession.shared.data(for: request)
                #expect((response as? HTTPURLResponse)?.statusCode == 200)
                let page = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
                count += (page["tasks"] as? [Any])?.count ?? 0
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            return count
        }

        func stop() {
            _ = gateway.stop()
            _ = sim.stop()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    static func csv(rows: Int) -> String {
        var text = "id,name,features,color,template\n"
        let templates = ["clothing", "electronics", "food"]
        for index in 0..<rows {
            text += "sku-\(index),product \(index),\"soft, light\",red,\(templates[index % 3])\n"
        }
        return text
    }

    func records(_ folder: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: folder.appendingPathComponent("summary.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    @Test(arguments: [false, true])
    func aCSVBatchRunsResumesAndNeverDuplicates(poll: Bool) async throws {
        let setup = try Gateway()
        defer { setup.stop() }
        #expect(setup.gateway.port > 0 && setup.sim.port > 0)
        let out = setup.folder.appendingPathComponent("out")
        let input = setup.folder.appendingPathComponent("products.csv")
        try Self.csv(rows: 12).write(to: input, atomically: true, encoding: .utf8)
        let arguments =
            ["submit", input.path, "--server", setup.url, "--out", out.path, "--concurrency", "3"]
            + (poll ? ["--poll", "--poll-interval", "0.1"] : [])
        let first = try TestSupport.run(arguments, timeout: 120)
        #expect(first.status == 0, "\(first.stderr)")
        let records = try records(out)
        #expect(records.count == 12)
        #expect(records.map { $0["row"] as? String } == (0..<12).map { "sku-\($0)" })
        for record in records {
            #expect(record["status"] as? String == "completed")
            let files = record["files"] as? [String] ?? []
            #expect(files == ["\(record["row"] as? String ?? "")_0.png"])
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(files.first ?? "-").path))
            #expect(record["seed"] is Int && record["task_id"] is String)
        }
        // One line per row (not a terminal), each naming its row.
        #expect(first.stdoutLines.count == 12 && first.stdoutLines.allSatisfy { $0.contains(" completed task ") })
        #expect(try await setup.taskCount() == 12)

        // A rerun skips every row: nothing is sent.
        let again = try TestSupport.run(arguments, timeout: 120)
        #expect(again.status == 0)
        #expect(again.stdoutLines.filter { $0.hasSuffix("skipped: done before") }.count == 12)
        #expect(try await setup.taskCount() == 12)

        // An image gone from the folder: that row is fetched again from the same task (its key replays it).
        try FileManager.default.removeItem(at: out.appendingPathComponent("sku-4_0.png"))
        let repair = try TestSupport.run(arguments, timeout: 120)
        #expect(repair.status == 0)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("sku-4_0.png").path))
        #expect(repair.stdoutLines.filter { $0.hasPrefix("sku-4 completed") }.count == 1)
        #expect(try await setup.taskCount() == 12)
    }

    /// Killed mid-run and started again: every row completes, and no row got a second task.
    @Test func aKilledRunResumesWithoutDuplicates() async throws {
        let setup = try Gateway(runSeconds: 0.15)
        defer { setup.stop() }
        let out = setup.folder.appendingPathComponent("out")
        let input = setup.folder.appendingPathComponent("products.csv")
        try Self.csv(rows: 20).write(to: input, atomically: true, encoding: .utf8)
        let arguments = ["submit", input.path, "--server", setup.url, "--out", out.path, "--concurrency", "4"]
        let process = Process()
        process.executableURL = TestSupport.binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Some rows done, then SIGKILL.
        let summary = out.appendingPathComponent("summary.jsonl")
        _ = await TestSupport.eventually(timeout: .seconds(60)) {
            ((try? String(contentsOf: summary, encoding: .utf8)) ?? "").split(separator: "\n").count >= 3
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let resumed = try TestSupport.run(arguments, timeout: 120)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let records = try records(out)
        #expect(records.count == 20 && records.allSatisfy { $0["status"] as? String == "completed" })
        #expect(resumed.stdoutLines.contains { $0.hasSuffix("skipped: done before") })
        #expect(try await setup.taskCount() == 20)
    }

    @Test func blockedRowsFailTheRunAndAreSummarised() async throws {
        let setup = try Gateway()
        defer { setup.stop() }
        let out = setup.folder.appendingPathComponent("out")
        let input = """
            {"id": "fox", "prompt": "a red fox in the snow", "seed": 5, "batch_size": 2}
            {"id": "gore", "prompt": "blood and gore everywhere"}
            """
        let result = try TestSupport.run(
            ["submit", "-", "--server", setup.url, "--out", out.path], input: input)
        #expect(result.status == 1)
        let records = try records(out)
        let fox = records.first { $0["row"] as? String == "fox" },
            gore = records.first { $0["row"] as? String == "gore" }
        #expect(fox?["status"] as? String == "completed" && fox?["files"] as? [String] == ["fox_0.png", "fox_1.png"])
        #expect(fox?["seed"] as? Int == 5)
        #expect(gore?["status"] as? String == "refused" && gore?["task_id"] == nil)
        #expect((gore?["error"] as? [String: Any])?["code"] as? String == "policy.blocked")
        #expect(result.stderr.contains("1 of 2 rows completed"))
    }

    @Test func badInputAndAnUnusableGatewayExit2BeforeAnythingIsSent() async throws {
        let setup = try Gateway(
            security: "{enabled: true, rate_limit: {enabled: false}, api_keys: [{name: shop, key: shop-key-123456}]}")
        defer { setup.stop() }
        let out = setup.folder.appendingPathComponent("out").path
        let badLine = try TestSupport.run(
            ["submit", "-", "--server", setup.url, "--out", out, "--key", "shop-key-123456"],
            input: "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n")
        #expect(badLine.status == 2)
        #expect(badLine.stderr.contains("line 2: field 'prompt'"))
        let wrongKey = try TestSupport.run(
            ["submit", "-", "--server", setup.url, "--out", out, "--key", "nope"], input: "{\"prompt\": \"ok\"}\n")
        #expect(wrongKey.status == 2)
        #expect(wrongKey.stderr.contains("refused the key"))
        let unreachable = try TestSupport.run(
            ["submit", "-", "--server", "http://127.0.0.1:1", "--out", out], input: "{\"prompt\": \"ok\"}\n")
        #expect(unreachable.status == 2)
        #expect(try await setup.taskCount(key: "shop-key-123456") == 0)
        // With the key: it works.
        let good = try TestSupport.run(
            ["submit", "-", "--server", setup.url, "--out", out, "--key", "shop-key-123456"],
            input: "{\"prompt\": \"ok\"}\n")
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try await setup.taskCount(key: "shop-key-123456") == 1)
    }
}
