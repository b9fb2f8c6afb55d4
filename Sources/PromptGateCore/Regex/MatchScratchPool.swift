import Synchronization

/// Hands out `MatchScratch` objects so each is used by one thread at a time; grows to the number of
/// concurrent users and keeps them for reuse.
final class MatchScratchPool: Sendable {
    private let free = Mutex<[MatchScratch]>([])
    let matchLimit: UInt32

    init(matchLimit: UInt32) { self.matchLimit = matchLimit }

    func withScratch<R>(_ body: (MatchScratch) throws -> R) rethrows -> R {
        let scratch = free.withLock { $0.popLast() } ?? MatchScratch(matchLimit: matchLimit)
        defer { free.withLock { $0.append(scratch) } }
        return try body(scratch)
    }
}
