import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP benchmark's floor: a bare Hummingbird application on the same event loops, without PromptGate's
/// middleware, policy or JSON. `make bench-http` measures it in the same run as `serve`, so the cost of
/// everything PromptGate adds on top of the framework shows as a ratio.
struct BenchFloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-floor",
        abstract: "Serve a bare Hummingbird hello world (GET /health, POST /api/v1/moderate) for make bench-http.",
        shouldDisplay: false)

    @Option(help: "Port on 127.0.0.1 (0: a free one, printed on start).")
    var port = 0

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
    }

    func run() async throws {
        let router = Router()
        router.get("/health") { _, _ in #"{"status":"ok"}"# }
        // Reads the body like /moderate does and answers a small fixed verdict.
        router.post("/api/v1/moderate") { request, _ -> String in
            _ = try await request.body.collect(upTo: 1 << 20)
            return #"{"decision":"allow","reasons":[]}"#
        }
        var logger = Logger(label: "promptgate.bench-floor")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                let line = "bench-floor listening on http://127.0.0.1:\(channel.localAddress?.port ?? 0)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }, logger: logger)
        try await app.runService()
    }
}
