import ArgumentParser
import Foundation
import Logging
import PromptGateCore
import PromptGateDispatch
import PromptGateServer
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run the HTTP API (generate, task, moderate, output, health, status, metrics, openapi) and the dispatcher.",
        discussion:
            "Without --config every setting has its default: 127.0.0.1:8000, bundled rules, presets and workflow (Nunchaku FLUX.1-dev), ComfyUI at http://localhost:8188 (try `promptgate comfy-sim`), no auth. SIGHUP reloads rules and presets; SIGTERM/SIGINT stop gracefully."
    )

    @Option(help: ArgumentHelp("Configuration file (see config.example.yaml).", valueName: "path"))
    var config: String?

    @Option(help: "Override server.port (0 picks a free port).")
    var port: Int?

    @Option(help: "Override server.host.")
    var host: String?

    @Flag(
        help: ArgumentHelp("Stop (gracefully) when the parent process exits (`make run` uses it).", visibility: .hidden)
    )
    var exitWithParent = false

    func run() async throws {
        let parentWatch = exitWithParent ? ParentWatch() : nil
        var settings = try config.map { try ServiceConfig.load(file: $0) } ?? ServiceConfig()
        if let port { settings.server.port = port }
        if let host { settings.server.host = host }
        let logging = settings.logging
        let format = LineLogHandler.Format(rawValue: logging.format) ?? .json
        var logFile: LogFile?
        if let path = logging.file {
            do {
                logFile = try LogFile(path: path, rotationBytes: logging.rotationBytes, retention: logging.retention)
            } catch {
                throw ValidationError("logging.file: cannot open \(path) for appending: \(error.localizedDescription)")
            }
        }
        let sink: any LogSink = logFile ?? FileHandle.standardError
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, level: logging.level, format: format, extra: logging.extraFields, output: sink)
        }
        let logger = Logger(label: "promptgate")
        let openFiles = SystemLimits.raiseOpenFileLimit()
        logger.notice(
            "open-file limit", metadata: ["before": "\(openFiles.before)", "now": "\(openFiles.now)"])
        try ListenFailure.check(host: settings.server.host, port: settings.server.port, setting: "server.port")
        let server = try GateServer(config: settings, logger: logger)
        // A database server must answer (and be this gateway's) before anything is accepted.
        do throws(TaskStoreError) {
            try await server.dispatch.dispatcher.store.prepare()
        } catch {
            throw ConfigError(
                problems: [
                    LoadProblem(
                        file: settings.source, keyPath: settings.dispatch.storeURL != nil ? "store.url" : "store.path",
                        message: "\(error.code): \(error.message)")
                ])
        }
        // The banner below shows the report on the terminal; a log file gets it as a line of its own.
        if logFile != nil { logger.notice("dispatch", metadata: ["report": "\(server.dispatch.report)"]) }
        for warning in server.dispatch.dispatcher.binding.warnings {
            logger.warning("workflow binding", metadata: ["warning": "\(warning)"])
        }
        let host = settings.server.host
        let report = server.dispatch.report
        let configuredPort = settings.server.port
        let app = server.makeApplication(onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuredPort
            let text = """
                PromptGate listening on http://\(host):\(port)
                \(report)
                  curl -s http://\(host):\(port)/health
                  curl -s -X POST http://\(host):\(port)/api/v1/moderate -H 'Content-Type: application/json' -d '{"prompt": "a red fox in the snow", "style": "anime"}'
                  curl -s -X POST http://\(host):\(port)/api/v1/generate -H 'Content-Type: application/json' -d '{"prompt": "a red fox in the snow", "seed": 7}'
                  curl -s http://\(host):\(port)/api/v1/task/<task_id>

                """
            FileHandle.standardOutput.write(Data(text.utf8))
        })
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: app), .init(service: DispatchService(setup: server.dispatch)),
                .init(service: WebhookSender(server: server)),
                .init(service: ReloadOnHangup(server: server, logFile: logFile)),
            ] + (parentWatch.map { [$0.entry] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Past server.shutdown_timeout, requests still in flight are cancelled and their connections closed.
        groupConfiguration.maximumGracefulShutdownDuration = settings.server.shutdownTimeout
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            throw ListenFailure.naming(error, host: host, port: configuredPort, setting: "server.port")
        }
    }
}
