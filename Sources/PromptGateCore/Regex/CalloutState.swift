import CPCRE2

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
        // A rule pattern may hold a callout of its own; anything out of shape is simply accepted.
        guard let view, start >= 0, start <= end, end <= view.bytes.count else { return 0 }
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
            var position = start + 1
            while position < end {
                if marks[position] == 1 { return 1 }
                position += 1
            }
            return 0
        default:
            return 0
        }
    }
}

let boundaryCallout:
    @convention(c) (UnsafeMutablePointer<pcre2_callout_block_8>?, UnsafeMutableRawPointer?)
        -> Int32 = { block, data in
            guard let block, let data else { return 0 }
            let state = Unmanaged<CalloutState>.fromOpaque(data).takeUnretainedValue()
            return state.check(
                number: block.pointee.callout_number, start: Int(block.pointee.start_match),
                end: Int(block.pointee.current_position))
        }
