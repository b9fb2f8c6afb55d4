import CPCRE2

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
