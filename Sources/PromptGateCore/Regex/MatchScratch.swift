import CPCRE2
import Synchronization

/// What one worker needs to run matches: PCRE2 match data, a match context with the limits and the callout,
/// a JIT stack, and a Chinese word segmenter. Never used by two threads at once (see `MatchScratchPool`).
final class MatchScratch: @unchecked Sendable {
    let matchData: OpaquePointer
    let matchContext: OpaquePointer
    private let jitStack: OpaquePointer?
    let breaker = WordBreaker()
    /// What the boundary callout checks against during the current match call.
    let callout = CalloutState()

    init(matchLimit: UInt32) {
        matchData = pcre2_match_data_create_8(16, nil)!
        matchContext = pcre2_match_context_create_8(nil)!
        pcre2_set_match_limit_8(matchContext, matchLimit)
        pcre2_set_depth_limit_8(matchContext, matchLimit)
        jitStack = pcre2_jit_stack_create_8(32 * 1024, 1024 * 1024, nil)
        if let jitStack { pcre2_jit_stack_assign_8(matchContext, nil, UnsafeMutableRawPointer(jitStack)) }
        pcre2_set_callout_8(matchContext, boundaryCallout, Unmanaged.passUnretained(callout).toOpaque())
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_match_context_free_8(matchContext)
        if let jitStack { pcre2_jit_stack_free_8(jitStack) }
    }
}

/// Callout numbers used in compiled term patterns.
enum CalloutNumber {
    /// A Latin term must start and end on a token boundary of the folded text.
    static let tokenBoundary: UInt32 = 1
    /// A Han term must start on a word boundary, and either end on one or hold none inside.
    static let hanWord: UInt32 = 2
}

/// The state the boundary callout reads: the view being matched and the segmenter to use.
final class CalloutState {
    var view: TextView?
    var breaker: WordBreaker?

    /// Returns 0 to accept the match so far, 1 to make PCRE2 backtrack.
    func check(number: UInt32, start: Int, end: Int) -> Int32 {
        guard let view else { return 0 }
        switch number {
        case CalloutNumber.tokenBoundary:
            let marks = view.tokenBoundaries
            guard !marks.isEmpty else { return 0 }
            return marks[start] == 1 && marks[end] == 1 ? 0 : 1
        case CalloutNumber.hanWord:
            guard let breaker else { return 0 }
            let marks = view.hanBoundaries(using: breaker)
            guard marks[start] == 1 else { return 1 }
            if marks[end] == 1 { return 0 }
            for position in (start + 1)..<end where marks[position] == 1 { return 1 }
            return 0
        default:
            return 0
        }
    }
}

private let boundaryCallout: @convention(c) (UnsafeMutablePointer<pcre2_callout_block_8>?, UnsafeMutableRawPointer?)
    -> Int32 = { block, data in
        guard let block, let data else { return 0 }
        let state = Unmanaged<CalloutState>.fromOpaque(data).takeUnretainedValue()
        return state.check(
            number: block.pointee.callout_number, start: Int(block.pointee.start_match),
            end: Int(block.pointee.current_position))
    }

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
