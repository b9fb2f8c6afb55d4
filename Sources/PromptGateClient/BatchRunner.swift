import Foundation
import PromptGateCore
import PromptGateDispatch

/// Runs a batch through a gateway: `concurrency` rows in flight, each submitted with its `Idempotency-Key`,
/// followed to its end (events, or polling when the stream is not available), its images downloaded into the
/// output folder as `<row id>_<index>.<ext>`, and its record appended to the summary. Rows that fail for a
/// reason another try may fix (a backend lost, the queue timeout, the gateway unreachable) are submitted
/// again, up to `retries` times, under a new key; a full queue or a key over its quota (429) is waited out
/// (`Retry-After`) without counting. Rows an earlier run completed (record and files present) are skipped.
public struct BatchRunner: Sendable {
    /// How the run behaves.
    public struct Options: Sendable {
        /// Rows in flight at once.
        public var concurrency = 4
        /// Where images and the summary go.
        public var folder: URL
        /// The summary file (default: `summary.jsonl` in `folder`).
        public var summary: URL?
        /// New tasks for a row whose task failed retryably.
        public var retries = 2
        /// Follow tasks by their event stream (false: poll).
        public var events = true
        /// How often to poll when polling.
        public var pollInterval: Duration = .seconds(2)
        /// Longest wait before a refused or failed submission is tried again.
        public var maxBackoff: Duration = .seconds(60)

        /// Options writing into `folder`.
        public init(folder: URL) { self.folder = folder }
    }

    /// Task failure codes worth a new task: the backend or the gateway, not the request, was at fault.
    static let retryableCodes: Set<String> = [
        "comfyui.unreachable", "comfyui.timeout", "comfyui.server_error", "comfyui.bad_answer", "comfyui.lost",
        "comfyui.missing_file", "comfyui.interrupted", "generation_timeout", "queue_timeout", "store.unavailable",
    ]

    let client: GatewayClient
    let options: Options

    /// - Parameters:
    ///   - client: the gateway.
    ///   - options: how to run.
    public init(client: GatewayClient, options: Options) {
        self.client = client
        self.options = options
    }

    /// Runs every row; returns each row's record in input order.
    /// - Throws: when the output folder or the summary cannot be written.
    public func run(_ rows: [BatchRow], progress: BatchProgress) async throws -> [BatchRecord] {
        try FileManager.default.createDirectory(at: options.folder, withIntermediateDirectories: true)
        let summaryURL = options.summary ?? options.folder.appendingPathComponent("summary.jsonl")
        let earlier = BatchSummary.records(at: summaryURL)
        let summary = try BatchSummary(url: summaryURL)
        var records: [String: BatchRecord] = [:]
        var pending: [(BatchRow, Int)] = []
        for row in rows {
            if let record = earlier[row.id], record.isDone(in: options.folder) {
                records[row.id] = BatchRecord(
                    row: row.id, task_id: record.task_id, status: "completed", seed: record.seed, files: record.files,
                    error: nil, attempts: 0, seconds: record.seconds)
                progress.skipped(row)
            } else {
                // A row that failed before gets a new task; one cut off mid-run gets its task back (same key).
                let failedBefore = earlier[row.id].map { $0.status != "completed" && $0.task_id != nil } ?? false
                pending.append((row, failedBefore ? (earlier[row.id]?.attempts ?? 0) + 1 : 1))
                progress.update(row, status: "unsent")
            }
        }
        await withTaskGroup(of: (BatchRow, BatchRecord).self) { group in
            var next = pending.makeIterator()
            for _ in 0..<max(1, options.concurrency) {
                guard let (row, attempt) = next.next() else { break }
                group.addTask { (row, await runRow(row, firstAttempt: attempt, progress: progress)) }
            }
            for await (row, record) in group {
                records[row.id] = record
                summary.append(record)
                progress.ended(row, record)
                if let (row, attempt) = next.next() {
                    group.addTask { (row, await runRow(row, firstAttempt: attempt, progress: progress)) }
                }
            }
        }
        let ordered = rows.compactMap { records[$0.id] }
        try summary.rewrite(ordered)
        return ordered
    }

    /// One row to its end, retries included.
    func runRow(_ row: BatchRow, firstAttempt: Int, progress: BatchProgress) async -> BatchRecord {
        let started = ContinuousClock.now
        var attempt = firstAttempt
        var tries = 0
        var backoff: Duration = .seconds(1)
        var record = BatchRecord(row: row.id, status: "refused", files: [], attempts: 0)
        /// Whether another try is left; waits the backoff first.
        func anotherTry() async -> Bool {
            guard tries <= options.retries else { return false }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, options.maxBackoff)
            return true
        }
        while !Task.isCancelled {
            let submitted: GatewayClient.Submission
            do {
                submitted = try await client.submit(row, attempt: attempt)
            } catch {
                tries += 1
                record.status = "failed"
                record.error = .init(code: "submit.unreachable", message: error.description)
                if await anotherTry() { continue }
                break
            }
            switch submitted {
            case .refused(let status, let code, let message, let retryAfter):
                record.error = .init(code: code, message: message)
                if status == 429 {
                    // Backpressure (queue full, the key's quota or rate limit): wait and send the same again.
                    try? await Task.sleep(for: .seconds(max(1, min(retryAfter ?? 5, 300))))
                    continue
                }
                if status >= 500 {
                    tries += 1
                    if let retryAfter { backoff = .seconds(max(1, min(retryAfter, 300))) }
                    if await anotherTry() { continue }
                }
                record.status = "refused"
                record.seconds = (ContinuousClock.now - started).seconds
                return record
            case .accepted(let id, let task):
                tries += 1
                record.task_id = id
                record.attempts += 1
                let ended = await follow(id, row: row, first: task, progress: progress)
                guard let ended else {
                    record.status = "failed"
                    record.error = .init(code: "submit.lost", message: "task \(id) could not be followed")
                    if await anotherTry() { continue }
                    break
                }
                record.status = ended["status"]?.text ?? "failed"
                if record.status == "completed" {
                    do {
                        (record.files, record.seed) = try await download(ended, row: row)
                        record.error = nil
                        record.seconds = (ContinuousClock.now - started).seconds
                        return record
                    } catch {
                        record.status = "failed"
                        record.error = .init(code: "submit.download", message: "\(error)")
                        if await anotherTry() { continue }
                        break
                    }
                }
                let code =
                    ended["error"]?["code"]?.text ?? (record.status == "expired" ? "queue_timeout" : record.status)
                record.error = .init(
                    code: code, message: ended["error"]?["message"]?.text ?? "the task \(record.status)")
                if record.status == "expired" || Self.retryableCodes.contains(code) {
                    attempt += 1
                    if await anotherTry() { continue }
                }
            }
            break
        }
        record.seconds = (ContinuousClock.now - started).seconds
        return record
    }

    /// The task followed to its end (events first, polling when they fail); nil when neither works.
    private func follow(_ id: String, row: BatchRow, first: JSONValue, progress: BatchProgress) async -> JSONValue? {
        let report: @Sendable (JSONValue) -> Void = { task in
            if let status = task["status"]?.text, !GatewayClient.terminal.contains(status) {
                progress.update(row, status: status)
            }
        }
        report(first)
        if let status = first["status"]?.text, GatewayClient.terminal.contains(status), first["result"] != nil {
            return first
        }
        if options.events, let ended = try? await client.follow(id, update: report) { return ended }
        return try? await client.poll(id, every: options.pollInterval, update: report)
    }

    /// Writes every image of the ended task into the folder; returns the file names and the seed.
    private func download(_ task: JSONValue, row: BatchRow) async throws -> ([String], UInt64?) {
        var files: [String] = []
        var seed: UInt64?
        for (position, image) in (task["result"]?["images"]?.items ?? []).enumerated() {
            guard let source = image["filename"]?.text else { continue }
            let index = image["index"]?.number.map { Int($0) } ?? position
            let ext = (source as NSString).pathExtension.isEmpty ? "png" : (source as NSString).pathExtension
            let name = "\(row.fileStem)_\(index).\(ext)"
            try await client.download(source, to: options.folder.appendingPathComponent(name))
            files.append(name)
            if let value = image["seed"]?.number { seed = UInt64(value) }
        }
        guard !files.isEmpty else { throw GatewayClient.Failure(description: "the completed task lists no images") }
        return (files, seed)
    }
}
