import Foundation
import Synchronization

/// Where log lines go: standard error, or `logging.file`.
public protocol LogSink: Sendable {
    /// Appends one line (with its newline).
    func write(_ line: Data)
}

extension FileHandle: LogSink {}

/// `logging.file`: lines appended to a file that is rotated past `rotation` bytes (renamed to
/// `<file>.<UTC time>`, a new file started), whose rotated copies older than `retention` are deleted, and that
/// is reopened on `reopen()` (SIGHUP), so an external logrotate that moved it works too. Writes are serialized;
/// a file that cannot be written falls back to standard error, so lines are never lost silently.
public final class LogFile: LogSink {
    /// The file's path.
    public let path: String
    /// Rotate once the file holds this many bytes; nil: never.
    public let rotationBytes: Int?
    /// Delete rotated copies older than this; nil: keep them.
    public let retention: Duration?

    private struct State {
        var handle: FileHandle?
        var size = 0
    }

    private let state = Mutex(State())

    /// Opens (creating it and its folder when missing) the file at `path`.
    /// - Throws: when the file cannot be created or opened for appending.
    public init(path: String, rotationBytes: Int? = nil, retention: Duration? = nil) throws {
        self.path = path
        self.rotationBytes = rotationBytes
        self.retention = retention
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        try state.withLock { state in state = try Self.open(path) }
        removeExpired()
    }

    /// Appends a line, rotating first when it would pass `rotationBytes`.
    public func write(_ line: Data) {
        let (written, rotated) = state.withLock { state -> (Bool, Bool) in
            var rotated = false
            if let limit = rotationBytes, state.size > 0, state.size + line.count > limit {
                try? state.handle?.close()
                try? FileManager.default.moveItem(atPath: path, toPath: rotatedName(at: Date()))
                state = (try? Self.open(path)) ?? State()
                rotated = true
            }
            guard let handle = state.handle, (try? handle.write(contentsOf: line)) != nil else {
                return (false, rotated)
            }
            state.size += line.count
            return (true, rotated)
        }
        if !written { FileHandle.standardError.write(line) }
        if rotated { removeExpired() }
    }

    /// Closes and reopens the file by its path (after an external rotation), then deletes expired copies.
    public func reopen() {
        state.withLock { state in
            try? state.handle?.close()
            state = (try? Self.open(path)) ?? State()
        }
        removeExpired()
    }

    /// Rotated copies of the file (`<name>.<suffix>`), oldest first.
    public func rotatedFiles() -> [String] {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
        return entries.filter { $0.hasPrefix(name + ".") }.sorted()
            .map { folder.isEmpty ? $0 : (folder as NSString).appendingPathComponent($0) }
    }

    /// Deletes rotated copies last written longer than `retention` ago.
    func removeExpired(now: Date = Date()) {
        guard let retention else { return }
        let cutoff = now.addingTimeInterval(-Double(retention.components.seconds))
        for file in rotatedFiles() {
            let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date
            if let modified, modified < cutoff { try? FileManager.default.removeItem(atPath: file) }
        }
    }

    private func rotatedName(at time: Date) -> String {
        let stamp = time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            .replacing(":", with: "-")
        var candidate = "\(path).\(stamp)"
        var counter = 1
        while FileManager.default.fileExists(atPath: candidate) {
            counter += 1
            candidate = "\(path).\(stamp)-\(counter)"
        }
        return candidate
    }

    private static func open(_ path: String) throws -> State {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let size = Int(try handle.seekToEnd())
        return State(handle: handle, size: size)
    }

    /// Parses a size such as `100 MB`, `512KB`, `1 GiB` or `4096` (bytes); nil when it is not one.
    public static func bytes(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10), ("gb", 1_000_000_000), ("mb", 1_000_000),
            ("kb", 1000), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10), ("b", 1),
        ]
        return measure(text, units)
    }

    /// Parses an age such as `30 days`, `12 hours`, `1 week` or `3600` (seconds); nil when it is not one.
    public static func seconds(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("weeks", 604_800), ("week", 604_800), ("w", 604_800), ("days", 86400), ("day", 86400), ("d", 86400),
            ("hours", 3600), ("hour", 3600), ("h", 3600), ("minutes", 60), ("minute", 60), ("min", 60),
            ("seconds", 1), ("second", 1), ("s", 1),
        ]
        return measure(text, units)
    }

    private static func measure(_ text: String, _ units: [(String, Int)]) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard let number = Int(digits), number > 0 else { return nil }
        if unit.isEmpty { return number }
        guard let scale = units.first(where: { $0.0 == unit })?.1 else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }
}
