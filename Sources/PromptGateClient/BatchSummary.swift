import Foundation

/// One line of the summary JSONL: what became of a row.
public struct BatchRecord: Sendable, Equatable, Codable {
    /// The row id.
    public var row: String
    /// The gateway's task id (nil when no task was accepted).
    public var task_id: String?
    /// `completed`, `failed` (the task, or the gateway could not be reached), `cancelled`, `expired`, or
    /// `refused` (the gateway answered the submission with an error: blocked, invalid).
    public var status: String
    /// The seed the images were made with.
    public var seed: UInt64?
    /// The image files written, relative to the output folder.
    public var files: [String]
    /// Why it did not complete: the gateway's code and message.
    public var error: Problem?
    /// Tasks submitted for the row in this run (retries included; 0 for a row skipped as done).
    public var attempts: Int
    /// Seconds from the first submission to the end.
    public var seconds: Double?

    /// A code and a sentence.
    public struct Problem: Sendable, Equatable, Codable {
        /// Stable code (`policy.blocked`, `comfyui.execution_error`, `submit.unreachable`, ...).
        public var code: String
        /// What happened.
        public var message: String
    }

    /// Whether the row needs nothing more: completed, with every file present in `folder`.
    func isDone(in folder: URL) -> Bool {
        status == "completed" && !files.isEmpty
            && files.allSatisfy { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
    }
}

/// The summary file (`summary.jsonl` in the output folder by default): a record is appended as each row ends,
/// so a run that is killed keeps what it finished; at the end the file is rewritten with one record per row in
/// input order. A rerun reads it to skip the rows already done.
public final class BatchSummary: Sendable {
    /// Where it is.
    public let url: URL
    private let handle: FileHandle

    /// Opens (creating) the summary at `url`.
    /// - Throws: when the file cannot be created or opened.
    public init(url: URL) throws {
        self.url = url
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// The last record of each row in an existing summary (lines that are not records are skipped: a run
    /// killed mid-write leaves at most a partial last line).
    public static func records(at url: URL) -> [String: BatchRecord] {
        guard let data = try? Data(contentsOf: url) else { return [:] }
        var records: [String: BatchRecord] = [:]
        let decoder = JSONDecoder()
        for line in data.split(separator: 0x0A) {
            if let record = try? decoder.decode(BatchRecord.self, from: Data(line)) { records[record.row] = record }
        }
        return records
    }

    /// Appends a record (one write of one line).
    public func append(_ record: BatchRecord) {
        guard var line = try? Self.encoder.encode(record) else { return }
        line.append(0x0A)
        try? handle.write(contentsOf: line)
    }

    /// Replaces the file with `records`, one a line, written whole (a temporary file renamed over it).
    public func rewrite(_ records: [BatchRecord]) throws {
        var data = Data()
        for record in records {
            data.append(try Self.encoder.encode(record))
            data.append(0x0A)
        }
        try data.write(to: url, options: .atomic)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
