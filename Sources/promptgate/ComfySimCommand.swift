import ArgumentParser
import ComfySim
import Foundation
import Hummingbird
import ServiceLifecycle

struct ComfySimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comfy-sim",
        abstract: "Run a ComfyUI stand-in (the routes the dispatcher uses) for tests and demos without a GPU.")

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 8188

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Seconds each run takes.")
    var runSeconds = 0.05

    @Flag(help: ArgumentHelp("Stop when the parent process exits (`make run` uses it).", visibility: .hidden))
    var exitWithParent = false

    func validate() throws {
        guard runSeconds >= 0, runSeconds.isFinite else {
            throw ValidationError("--run-seconds must be a non-negative number")
        }
    }

    func run() async throws {
        let parentWatch = exitWithParent ? ParentWatch() : nil
        try ListenFailure.check(host: host, port: port)
        let sim = ComfySim(runTime: .milliseconds(Int64(runSeconds * 1000)))
        let app = sim.makeApplication(
            host: host, port: port,
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                FileHandle.standardOutput.write(Data("ComfySim listening on http://\(self.host):\(bound)\n".utf8))
            })
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: app)] + (parentWatch.map { [$0.entry] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger))
        do {
            try await group.run()
        } catch {
            throw ListenFailure.naming(error, host: host, port: port)
        }
    }
}
