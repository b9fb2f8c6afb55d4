import ArgumentParser
import Foundation
import NIOPosix
import PromptGateClient
import PromptGateCore

extension BatchInput.Format: ExpressibleByArgument {}

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Send a batch of requests (JSONL, or a product CSV) through a gateway and download the images.",
        discussion: """
            JSONL: one request object a line (its `id` names the row). CSV: a header with `name` and any of \
            `features`, `color`, `template`, `id`, `preset`, `style`, `priority`, `seed`, `batch_size`, `steps`, \
            `width`, `height`, `negative_prompt`; the prompt is "<color> <name>, <features>" and the preset's \
            template (`template` column or --template) frames it. Each row is submitted with an Idempotency-Key \
            of its own, so a rerun never makes a second task; rows already done in the output folder are \
            skipped. Images go to OUT/<row id>_<index>.png, one summary line a row to OUT/summary.jsonl. \
            Exit status: 0 when every row completed, 1 when some did not, 2 on bad input or options.
            """
    )

    @Argument(help: "The batch file (.jsonl or .csv); - reads standard input.")
    var input: String

    @Option(help: "The gateway's base URL.")
    var server = "http://127.0.0.1:8000"

    @Option(help: "API key (default: $PROMPTGATE_API_KEY).")
    var key: String?

    @Option(help: "Rows in flight at once (1-256).")
    var concurrency = 4

    @Option(help: "Folder for the images and the summary.")
    var out: String

    @Option(help: "Summary file (default: OUT/summary.jsonl).")
    var summary: String?

    @Option(help: "Input format (default: from the file name; stdin: jsonl).")
    var format: BatchInput.Format?

    @Option(help: "Product template for CSV rows without a template cell.")
    var template: String?

    @Option(help: "New tasks for a row whose task failed for a reason another try may fix (0-20).")
    var retries = 2

    @Flag(help: "Poll task status instead of following the event stream.")
    var poll = false

    @Option(help: "Seconds between polls.")
    var pollInterval = 2.0

    @Flag(help: "One line per row even on a terminal (no live status line).")
    var noProgress = false

    func validate() throws {
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 256") }
        guard (0...20).contains(retries) else { throw ValidationError("--retries must be 0 to 20") }
        guard pollInterval >= 0.05, pollInterval <= 3600 else {
            throw ValidationError("--poll-interval must be 0.05 to 3600 seconds")
        }
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ValidationError("--server must be an http:// or https:// URL, found '\(server)'")
        }
    }

    func run() async throws {
        let data: Data
        do {
            data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: fileURL(input))
        } catch {
            throw SubmitError(message: "cannot read \(input): \(error.localizedDescription)")
        }
        let rows: [BatchRow]
        do {
            rows = try BatchInput.rows(
                data, format: format ?? (input == "-" ? .jsonl : .of(path: input)), template: template)
        } catch {
            throw SubmitError(message: "submit: \(input): \(error)")
        }
        let pool = NIOThreadPool(numberOfThreads: concurrency + 4)
        pool.start()
        let client = GatewayClient(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server,
            key: key ?? ProcessInfo.processInfo.environment["PROMPTGATE_API_KEY"], threadPool: pool)
        do {
            try await client.check()
        } catch {
            try? await pool.shutdownGracefully()
            throw SubmitError(message: "submit: \(server): \(error)")
        }
        var options = BatchRunner.Options(folder: fileURL(out))
        options.summary = summary.map(fileURL)
        options.concurrency = concurrency
        options.retries = retries
        options.events = !poll
        options.pollInterval = .milliseconds(Int64(pollInterval * 1000))
        let live = !noProgress && isatty(STDERR_FILENO) == 1
        let progress = BatchProgress(
            total: rows.count, live: live,
            output: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) },
            status: { text in FileHandle.standardError.write(Data(text.utf8)) })
        let records: [BatchRecord]
        do {
            records = try await BatchRunner(client: client, options: options).run(rows, progress: progress)
        } catch {
            try? await pool.shutdownGracefully()
            throw SubmitError(message: "cannot write to \(out): \(error.localizedDescription)")
        }
        try? await pool.shutdownGracefully()
        progress.finish()
        let counts = progress.counts
        let failed = records.filter { $0.status != "completed" }.count
        FileHandle.standardError.write(
            Data(
                ("\(counts.done) of \(rows.count) rows completed (\(counts.skipped) done before), \(failed) failed, "
                    + "\(counts.images) images written to \(out)\n").utf8))
        if failed > 0 { throw ExitCode(1) }
    }

    private func fileURL(_ path: String) -> URL { URL(fileURLWithPath: path) }
}

/// Input or output `submit` cannot work with (exit status 2, the message only).
struct SubmitError: PromptGateError {
    var message: String
    var code: String { "submit.input" }
    var kind: ErrorKind { .invalidInput }
}
