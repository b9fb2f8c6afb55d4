import CICUWrap

/// A dictionary-based word segmenter (ICU `ubrk` for `zh`). Not thread-safe: one per worker.
final class WordBreaker {
    private let breaker: OpaquePointer?
    private var scratch = [Int32](repeating: 0, count: 256)

    init() {
        var error: Int32 = 0
        breaker = pgicu_breaker_open("zh", &error)
    }

    deinit { pgicu_breaker_close(breaker) }

    /// 1 at every word boundary byte offset of `bytes` (positions `0...bytes.count`).
    /// If ICU fails, every position is a boundary, so Han terms still match (fail closed).
    func boundaries(of bytes: [UInt8]) -> [UInt8] {
        var marks = [UInt8](repeating: 0, count: bytes.count + 1)
        guard let breaker else { return [UInt8](repeating: 1, count: bytes.count + 1) }
        var count: Int32 = 0
        while true {
            let capacity = Int32(scratch.count)
            count = bytes.withUnsafeBufferPointer { text in
                text.withMemoryRebound(to: CChar.self) { text in
                    scratch.withUnsafeMutableBufferPointer {
                        pgicu_breaker_boundaries(breaker, text.baseAddress, Int32(text.count), $0.baseAddress, capacity)
                    }
                }
            }
            if count <= capacity { break }
            scratch = [Int32](repeating: 0, count: Int(count))
        }
        guard count >= 0 else { return [UInt8](repeating: 1, count: bytes.count + 1) }
        for i in 0..<Int(count) {
            let b = Int(scratch[i])
            if b >= 0 && b <= bytes.count { marks[b] = 1 }
        }
        return marks
    }
}
