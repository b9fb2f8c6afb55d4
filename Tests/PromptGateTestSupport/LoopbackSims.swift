import ComfySim
import Foundation
import Hummingbird
import Logging
import PromptGateCore

/// ComfySim servers on 127.0.0.1 and ephemeral ports, for tests that need real ComfyUI-speaking backends.
/// Each runs in its own task, so a test can stop one mid-run (a backend that dies).
public final class LoopbackSims: Sendable {
    /// The simulators.
    public let sims: [ComfySim]
    /// Their base URLs, in the same order.
    public let urls: [String]
    private let servers: [Task<Void, any Error>]

    private init(sims: [ComfySim], urls: [String], servers: [Task<Void, any Error>]) {
        self.sims = sims
        self.urls = urls
        self.servers = servers
    }

    /// Starts every sim and waits until each listens.
    public static func start(_ sims: [ComfySim]) async -> LoopbackSims {
        var urls: [String] = []
        var servers: [Task<Void, any Error>] = []
        for sim in sims {
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let app = sim.makeApplication(port: 0, onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
            servers.append(Task { try await app.run() })
            var iterator = ports.makeAsyncIterator()
            urls.append("http://127.0.0.1:\(await iterator.next() ?? 0)")
        }
        return LoopbackSims(sims: sims, urls: urls, servers: servers)
    }

    /// Stops one server (its port then refuses connections).
    public func stop(_ index: Int) async {
        servers[index].cancel()
        _ = await servers[index].result
    }

    /// Stops them all.
    public func stopAll() async {
        for index in servers.indices { await stop(index) }
    }

    /// Runs `body` with sims started for it, and stops them afterwards whatever happens.
    public static func with<T>(_ sims: [ComfySim], _ body: (LoopbackSims) async throws -> T) async throws -> T {
        let running = await start(sims)
        do {
            let result = try await body(running)
            await running.stopAll()
            return result
        } catch {
            await running.stopAll()
            throw error
        }
    }
}

extension TestSupport {
    /// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
    public static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows
        -> Bool
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }
}

extension ComfySim {
    /// The graph `POST /prompt` received for a prompt id, read with the gateway's JSON type for assertions.
    public func receivedGraph(promptID: String) -> [String: JSONValue]? {
        received(promptID: promptID).flatMap { try? JSONDecoder().decode([String: JSONValue].self, from: $0) }
    }
}
