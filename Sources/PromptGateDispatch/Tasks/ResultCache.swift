import Crypto
import Foundation
import PromptGateCore
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
    /// Where entries live, as configured; nil: `effectiveBackend` decides.
    public var backend: Backend?

    /// Where entries live: as configured, else in this process (`memory`), or in the store when it is a
    /// PostgreSQL database several gateways share (a result one gateway made is reused by all).
    public func effectiveBackend(sharedStore: Bool) -> Backend { backend ?? (sharedStore ? .database : .memory) }
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
    /// The result-cache key of a patched graph: SHA-256 over a canonical walk of its JSON (object keys sorted,
    /// every value tagged and length-prefixed, so no two graphs share an encoding), in hex. Patch it with a fixed
    /// filename prefix, so tasks that differ only in their id share a key.
    public var cacheKey: String {
        // The walk writes into one buffer hashed once: feeding SHA-256 a few bytes at a time cost more than the
        // rest of a submit. The bytes are the same either way, so stored keys stay valid.
        var encoding: [UInt8] = []
        encoding.reserveCapacity(8192)
        Self.encode(json, into: &encoding)
        return SHA256.hash(data: encoding).hex
    }

    private static func encode(_ value: JSONValue, into out: inout [UInt8]) {
        func header(_ tag: UInt8, _ count: Int) {
            out.append(tag)
            withUnsafeBytes(of: UInt64(count).littleEndian) { out.append(contentsOf: $0) }
        }
        switch value {
        case .null: out.append(0)
        case .bool(let flag): out.append(contentsOf: [1, flag ? 1 : 0])
        case .number(let number):
            header(2, 8)
            withUnsafeBytes(of: number.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .string(let text):
            header(3, text.utf8.count)
            out.append(contentsOf: text.utf8)
        case .array(let items):
            header(4, 8)
            withUnsafeBytes(of: UInt64(items.count).littleEndian) { out.append(contentsOf: $0) }
            for item in items { encode(item, into: &out) }
        case .object(let fields):
            header(5, 8)
            withUnsafeBytes(of: UInt64(fields.count).littleEndian) { out.append(contentsOf: $0) }
            for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
                header(3, key.utf8.count)
                out.append(contentsOf: key.utf8)
                encode(field, into: &out)
            }
        }
    }
}

extension SHA256.Digest {
    /// The digest in lowercase hex (64 characters).
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
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
