import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PromptGateTestSupport
import Testing

/// `promptgate serve` as a process: port discovery from its banner, SIGHUP reload, SIGTERM shutdown.
@Suite("promptgate serve (CLI)", .serialized)
struct ServeCLITests {
    final class Server {
        let process = Process()
        let stdout = Pipe(), stderr = Pipe()
        var port = 0
        /// The working directory (the default output folder lands here, not in the package).
        let workdir: URL

        convenience init(config: String) throws {
            try self.init(arguments: ["serve", "--config", config, "--port", "0"])
        }

        /// Starts the binary and waits for its "listening on http://127.0.0.1:<port>" banner (serve, comfy-sim);
        /// with `shell`, through `sh -c "<shell> && exec promptgate <arguments>"` (e.g. `ulimit -n 256`).
        init(arguments: [String], shell: String? = nil) throws {
            workdir = try TestSupport.temporaryDirectory()
            process.currentDirectoryURL = workdir
            if let shell {
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", "\(shell) && exec \"$0\" \"$@\"", TestSupport.binary.path] + arguments
            } else {
                process.executableURL = TestSupport.binary
                process.arguments = arguments
            }
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            var banner = Data()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                banner.append(stdout.fileHandleForReading.availableData)
                let text = String(decoding: banner, as: UTF8.self)
                if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    port = Int(text[range].split(separator: ":").last!) ?? 0
                    break
                }
                if !process.isRunning { break }
            }
        }

        func post(_ body: String, to path: String = "/api/v1/moderate") async throws -> [String: Any] {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            let (data, _) = try await URLSession.shared.data(for: request)
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        }

        /// A JSON object from `GET path` (empty when the body is not one).
        func json(_ path: String) async throws -> [String: Any] {
            (try JSONSerialization.jsonObject(with: try await get(path).body) as? [String: Any]) ?? [:]
        }

        /// Every task the gateway lists, by id, following the cursor.
        func everyTask() async throws -> [String: [String: Any]] {
            var tasks: [String: [String: Any]] = [:]
            var cursor: String?
            repeat {
                let page = try await json("/api/v1/tasks?limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""))
                for task in page["tasks"] as? [[String: Any]] ?? [] {
                    if let id = task["task_id"] as? String { tasks[id] = task }
                }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            return tasks
        }

        func get(_ path: String) async throws -> (status: Int, body: Data) {
            let (data, response) = try await URLSession.shared.data(
                from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        }

        func stop() -> (status: Int32, stderr: String) {
            if process.isRunning { process.terminate() }  // SIGTERM
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: workdir)
            return (
                process.terminationStatus,
                String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            )
        }
    }

    @Test func sighupReloadsAndSigtermStopsGracefully() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let rules = folder.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        let pack = rules.appendingPathComponent("pack.yaml")
        try "rules:\n  - id: apples\n    category: fruit\n    terms: [apple]\n".write(
            to: pack, atomically: true, encoding: .utf8)
        let config = folder.appendingPathComponent("config.yaml")
        try "rules: [\"\(rules.path)\"]\nlogging: {level: info}\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try Server(config: config.path)
        #expect(server.port > 0)
        #expect(try await server.post(#"{"prompt": "an apple secret-prompt-text"}"#)["decision"] as? String == "block")
        try "rules:\n  - id: pears\n    category: fruit\n    terms: [pear]\n".write(
            to: pack, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        var reloaded = false
        for _ in 0..<50 where !reloaded {
            try await Task.sleep(for: .milliseconds(100))
            reloaded = try await server.post(#"{"prompt": "a pear"}"#)["decision"] as? String == "block"
        }
        #expect(reloaded)
        #expect(try await server.post(#"{"prompt": "an apple"}"#)["decision"] as? String == "allow")
        let (status, log) = server.stop()
        #expect(status == 0)
        #expect(log.contains("reloaded rules and presets"))
        #expect(log.contains(#""route":"/api/v1/moderate""#))
        #expect(!log.contains("secret-prompt-text"))  // logging.log_prompts is off by default
    }

    /// At an open-file limit of 256 (hard too, so it cannot be raised), 400 connections that each send a byte:
    /// those over the derived cap are answered 503 and closed, the process stays up and serves afterwards.
    @Test func manyConnectionsAtALowOpenFileLimitDoNotKillTheServer() async throws {
        let server = try Server(arguments: ["serve", "--port", "0"], shell: "ulimit -n 256")
        #expect(server.port > 0)
        var connections: [RawConnection] = []
        var refused = 0
        for _ in 0..<400 {
            guard let connection = try? RawConnection(port: server.port, readTimeout: 5) else {
                refused += 1
                continue
            }
            connection.send("G")
            connections.append(connection)
        }
        var busy = 0
        for connection in connections.suffix(100) {
            let (text, closed) = await connection.readUntilClosed()
            if closed, text.contains("server.busy") { busy += 1 }
        }
        #expect(busy == 100, "the last 100 of 400 connections are over the cap of 16")
        #expect(server.process.isRunning)
        for connection in connections { connection.close() }
        let healthy = await TestSupport.eventually { (try? await server.get("/health"))?.status == 200 }
        #expect(healthy)
        let (status, log) = server.stop()
        #expect(status == 0)
        #expect(log.contains(#""max_connections":"16""#), "\(log.prefix(2000))")
        #expect(refused == 0)
    }

    /// SIGTERM with a client stuck mid-request (and a request deadline longer than the test): the server
    /// gives it `server.shutdown_timeout`, then closes it and exits 0.
    @Test func sigtermEndsWithinTheShutdownTimeoutDespiteAStuckClient() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try "server: {shutdown_timeout: 1, request_timeout: 600, idle_timeout: 600}\n".write(
            to: config, atomically: true, encoding: .utf8)
        let server = try Server(config: config.path)
        let stuck = try RawConnection(port: server.port, readTimeout: 60)
        stuck.send("POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        try await Task.sleep(for: .milliseconds(200))  // not a margin: the test holds either way
        let started = Date()
        let (status, _) = server.stop()
        #expect(status == 0)
        #expect(Date().timeIntervalSince(started) < 30)  // 1 s asked; 30 s only bounds a hang
        let (_, closed) = await stuck.readUntilClosed()
        #expect(closed)
    }

    @Test func logPromptsWhenAsked() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try "logging: {level: info, log_prompts: true}\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try Server(config: config.path)
        _ = try await server.post(#"{"prompt": "a visible prompt"}"#)
        let (_, log) = server.stop()
        #expect(log.contains(#""prompt":"a visible prompt""#))
    }

    /// `make run CONFIG=file` hands the file to serve (both processes stop with make, see below), and `make
    /// install PREFIX=dir` puts the release binary at `dir/bin/promptgate` (checked with `make -n`, which only
    /// prints what it would run).
    @Test func makeRunTakesAConfigAndInstallAPrefix() throws {
        func dryRun(_ arguments: [String]) throws -> String {
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            make.arguments = ["make", "-n", "-C", TestSupport.packageRoot.path] + arguments
            let output = Pipe()
            make.standardOutput = output
            make.standardError = FileHandle.nullDevice
            try make.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            make.waitUntilExit()
            #expect(make.terminationStatus == 0, "\(arguments)")
            return text
        }
        let run = try dryRun(["run", "CONFIG=my config.yaml"])
        #expect(run.contains(#"serve --exit-with-parent --config "my config.yaml""#), "\(run)")
        #expect(run.contains("comfy-sim --port 8188 --run-seconds 2 --exit-with-parent &"))
        #expect(!(try dryRun(["run"])).contains("--config"))
        let install = try dryRun(["install", "PREFIX=/opt/pg"])
        #expect(install.contains("swift build -c release"))
        #expect(install.contains("install -m 755 .build/release/promptgate /opt/pg/bin/promptgate"), "\(install)")
    }

    /// A taken port is named with its host and the way out, exit 2 (serve and comfy-sim alike).
    @Test func aTakenPortIsNamedAndExitsTwo() throws {
        let holder = try Server(arguments: ["comfy-sim", "--port", "0"])
        defer { _ = holder.stop() }
        #expect(holder.port > 0)
        for command in ["serve", "comfy-sim"] {
            let result = try TestSupport.run([command, "--port", "\(holder.port)"], input: "")
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(
                result.stderr.contains("cannot listen on 127.0.0.1:\(holder.port): the address is already in use"),
                "\(command): \(result.stderr)")
            #expect(result.stderr.contains("--port"))
        }
    }

    /// What `make run` does: a shell starts comfy-sim and execs serve, both `--exit-with-parent`. Killing the
    /// shell's parent (make) stops serve, and serve's going stops comfy-sim.
    @Test func killingTheParentStopsServeAndTheSimulator() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pids = folder.appendingPathComponent("pids"), banner = folder.appendingPathComponent("banner")
        let binary = TestSupport.binary.path
        let recipe =
            "\"$0\" comfy-sim --port 0 --exit-with-parent >/dev/null & echo $! > \"$1\"; echo $$ >> \"$1\"; "
            + "exec \"$0\" serve --port 0 --exit-with-parent > \"$2\""
        // The outer shell plays make: it runs the recipe and waits; SIGKILL leaves no chance to forward anything.
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/bin/sh")
        make.arguments = [
            "-c", "/bin/sh -c '\(recipe)' \"$0\" \"$1\" \"$2\" & wait", binary, pids.path, banner.path,
        ]
        make.currentDirectoryURL = folder
        make.standardOutput = FileHandle.nullDevice
        make.standardError = FileHandle.nullDevice
        try make.run()
        var children: [Int32] = []
        var listening = false
        for _ in 0..<600 where children.count < 2 || !listening {
            try await Task.sleep(for: .milliseconds(100))
            children = ((try? String(contentsOf: pids, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                Int32($0)
            }
            listening = ((try? String(contentsOf: banner, encoding: .utf8)) ?? "").contains("listening on")
        }
        #expect(children.count == 2 && listening)
        func alive(_ pid: Int32) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            // A zombie left for a non-reaping init counts as gone.
            return !(stat.split(separator: ")").last?.trimmingPrefix(" ").hasPrefix("Z") ?? true)
        }
        #expect(children.allSatisfy(alive))
        kill(make.processIdentifier, SIGKILL)
        make.waitUntilExit()
        let gone = await TestSupport.eventually(timeout: .seconds(30)) { !children.contains(where: alive) }
        #expect(gone, "still running: \(children.filter(alive))")
        for pid in children where alive(pid) { kill(pid, SIGKILL) }
    }

    @Test func configErrorsExitTwoNamingTheKey() throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try "server: {port: 99999}\nsecurity: {ip_whitelist: [\"10.0.0.1/8\"]}\n".write(
            to: config, atomically: true, encoding: .utf8)
        let result = try TestSupport.run(["serve", "--config", config.path], input: "")
        #expect(result.status == 2)
        #expect(result.stderr.contains("config.yaml: server.port: expected an integer from 0 to 65535"))
        #expect(result.stderr.contains("config.yaml: security.ip_whitelist[0]:"))
        let missing = try TestSupport.run(["serve", "--config", "/no/such/config.yaml"], input: "")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("cannot read the file"))
        // Workflow problems name workflow.path / workflow.bindings.
        let ui = folder.appendingPathComponent("ui.json")
        try #"{"nodes": [], "links": [], "version": 0.4}"#.write(to: ui, atomically: true, encoding: .utf8)
        for (yaml, expected) in [
            ("workflow: {path: /no/such/workflow.json}", "workflow.path: cannot read /no/such/workflow.json"),
            ("workflow: {path: \"\(ui.path)\"}", "Save (API Format)"),
            (
                "workflow: {bindings: {seed: \"25.seed\"}}",
                "workflow.bindings: <bundled>/workflows/nunchaku-flux.1-dev.api.json: seed: node 25 (RandomNoise) has no input 'seed'"
            ),
            ("workflow: {bindings: {steps: \"17\"}}", "workflow.bindings.steps: expected 'node id.input name'"),
        ] {
            try yaml.write(to: config, atomically: true, encoding: .utf8)
            let result = try TestSupport.run(["serve", "--config", config.path], input: "")
            #expect(result.status == 2, "\(yaml)")
            #expect(result.stderr.contains(expected), "\(result.stderr)")
        }
    }

    @Test func exampleConfigDocumentsAValidConfiguration() throws {
        let example = TestSupport.packageRoot.appendingPathComponent("config.example.yaml")
        let server = try Server(config: example.path)
        #expect(server.port > 0)
        #expect(server.stop().status == 0)
    }

    /// The article's batch client (`examples/article_client.py`, aiohttp, written as the article shows it: 20 at
    /// once with a Bearer key, seed -1, cfg_scale 7.5, LoRAs by file stem, polling until completed or failed)
    /// against serve with a key in its configuration file: 20 of 20 complete.
    @Test func theArticlesClientRunsTwentyOfTwenty() async throws {
        let sim = try Server(arguments: ["comfy-sim", "--port", "0", "--run-seconds", "0.05"])
        defer { _ = sim.stop() }
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try """
        comfyui: {base_url: "http://127.0.0.1:\(sim.port)", health_interval: 0.1}
        security:
          enabled: true
          api_keys: [{name: article, key: "sk-article-0123456789"}]
        """.write(to: config, atomically: true, encoding: .utf8)
        let server = try Server(config: config.path)
        defer { _ = server.stop() }
        #expect(server.port > 0)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = [
            "python3", TestSupport.packageRoot.appendingPathComponent("examples/article_client.py").path,
        ]
        client.environment = ProcessInfo.processInfo.environment.merging([
            "PROMPTGATE_URL": "http://127.0.0.1:\(server.port)", "PROMPTGATE_KEY": "sk-article-0123456789",
            "PROMPTGATE_POLL": "0.2",
        ]) { $1 }
        let output = Pipe()
        client.standardOutput = output
        client.standardError = output
        try client.run()
        // Blocking reads stay off the cooperative pool (other suites' servers run on it meanwhile).
        let text = try await TestSupport.offThePool {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            client.waitUntilExit()
            return text
        }
        #expect(client.terminationStatus == 0, "\(text)")
        #expect(text.contains("20/20 completed"), "\(text)")
    }

    @Test func generateRoundTripThroughTheBinaries() async throws {
        let sim = try Server(arguments: ["comfy-sim", "--port", "0", "--run-seconds", "0.2"])
        defer { _ = sim.stop() }
        #expect(sim.port > 0)
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("config.yaml")
        try """
        comfyui: {base_url: "http://127.0.0.1:\(sim.port)", health_interval: 0.1}
        workflow: {path: workflows/sd15-lora-txt2img.api.json}
        logging: {level: info}
        """.write(to: config, atomically: true, encoding: .utf8)
        let server = try Server(config: config.path)
        #expect(server.port > 0)
        var id = ""
        for _ in 0..<100 where id.isEmpty {  // until the backend has been checked
            id =
                try await server.post(#"{"prompt": "a lighthouse at dusk", "seed": 5}"#, to: "/api/v1/generate")[
                    "task_id"] as? String ?? ""
            try await Task.sleep(for: .milliseconds(50))
        }
        var task: [String: Any] = [:]
        for _ in 0..<200 {
            task =
                (try JSONSerialization.jsonObject(with: try await server.get("/api/v1/task/\(id)").body)
                    as? [String: Any]) ?? [:]
            if task["status"] as? String == "completed" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(task["status"] as? String == "completed", "\(task)")
        let image = try #require(
            ((task["result"] as? [String: Any])?["images"] as? [[String: Any]])?.first?["filename"] as? String)
        let png = try await server.get("/output/\(image)")
        #expect(png.status == 200 && png.body.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        let (status, log) = server.stop()
        #expect(status == 0)  // SIGTERM with the dispatcher running
        #expect(log.contains("backend ready"))
        #expect(log.contains(#""route":"/api/v1/generate""#) && log.contains("task completed"))
    }
}
