import Crypto
import Foundation
import Synchronization

/// `cache`: identical work is done once (see `ResultCache`).
public struct ResultCacheSettings: Sendable {
    /// Where entries live.
    public enum Backend: String, Sendable, CaseIterable {
        /// In this process: gone on restart.
        case memory
        /// In the task store: kept across restarts.
        case database
    }

    /// Whether completed results are reused.
    public var enabled = true
    /// Where entries live.
    public var backend = Backend.memory
    /// How long an entry is reused after the run that made it.
    public var ttl: Duration = .seconds(86400)

    /// The defaults: on, in memory, a day.
    public init() {}
}

/// A completed run's images, reusable by any task whose graph is byte-for-byte the same.
public struct CachedResult: Sendable, Equatable, Codable {
    /// The task whose run made the images.
    public var taskID: String
    /// Its images (files in the output folder, shared with every task that reuses them).
    public var images: [TaskImage]
    /// When the entry stops being reused.
    public var expiresAt: Date

    /// - Parameters: the source task, its images, the end of reuse.
    public init(taskID: String, images: [TaskImage], expiresAt: Date) {
        self.taskID = taskID
        self.images = images
        self.expiresAt = expiresAt
    }
}

/// Completed results by the hash of the graph that made them (`key(for:)`). A submit whose graph hashes to a
/// live entry completes at once with the entry's images; the dispatcher records an entry for every completed
/// run. `MemoryResultCache` keeps entries in the process; `SQLiteTaskStore` keeps them in its database.
public protocol ResultCache: Sendable {
    /// The live entry for `key`, if any.
    func cachedResult(key: String, now: Date) async -> CachedResult?
    /// Records (or replaces) the entry for `key`.
    func storeResult(_ result: CachedResult, key: String) async
    /// Forgets entries that expired before `now`.
    func removeExpiredResults(now: Date) async
}

extension Workflow {
    /// The result-cache key of a patched graph: SHA-256 of its canonical JSON (sorted keys), in hex. Patch it
    /// with a fixed filename prefix, so tasks that differ only in their id share a key.
    public var cacheKey: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(json)) ?? Data()
        return SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// Entries in this process, behind one lock.
public final class MemoryResultCache: ResultCache {
    private let entries = Mutex<[String: CachedResult]>([:])

    /// An empty cache.
    public init() {}

    /// The live entry for `key`.
    public func cachedResult(key: String, now: Date) -> CachedResult? {
        entries.withLock { $0[key] }.flatMap { $0.expiresAt > now ? $0 : nil }
    }

    /// Records the entry.
    public func storeResult(_ result: CachedResult, key: String) { entries.withLock { $0[key] = result } }

    /// Drops expired entries.
    public func removeExpiredResults(now: Date) {
        entries.withLock { $0 = $0.filter { $0.value.expiresAt > now } }
    }
}
