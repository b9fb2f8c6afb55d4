import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PromptGateCore

@main
struct PromptGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promptgate",
        abstract: "The front door of a text-to-image farm: policy filters, optimizers, dispatcher.",
        version: PromptGateVersion.current,
        subcommands: [
            FilterCommand.self, ServeCommand.self, OptimizeCommand.self, RulesCommand.self, PresetsCommand.self,
            ViewsCommand.self, BenchCommand.self, BenchDispatchCommand.self, BenchStoreCommand.self,
            BenchFloorCommand.self,
            ComfySimCommand.self, SubmitCommand.self,
        ]
    )

    static func main() async {
        // Run Swift concurrency on NIO's event loops: request handlers then no longer hop between the
        // cooperative pool and the event loop threads (measured on 2 cores with wrk: see README).
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        do {
            var command = try parseAsRoot()
            // `serve` sets up logging from its configuration; everything else logs warnings to stderr.
            if !(command is ServeCommand) && !(command is ComfySimCommand) {
                LoggingSystem.bootstrap { label in
                    var handler = StreamLogHandler.standardError(label: label)
                    handler.logLevel = .warning
                    return handler
                }
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as any PromptGateError {
            FileHandle.standardError.write(Data("promptgate: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            // Usage errors (bad flags) exit 2 like other errors; --help exits 0.
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Options shared by commands that load rule packs.
struct RuleOptions: ParsableArguments {
    @Option(
        name: .customLong("rules"),
        help: ArgumentHelp(
            "A rule pack file or folder (repeatable). When given, only these load; default: the bundled packs.",
            valueName: "path"))
    var paths: [String] = []
}
