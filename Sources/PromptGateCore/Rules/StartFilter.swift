/// The set of first-two-byte pairs that can start a term (a 64K-bit map). The scanner runs the anchored
/// term pattern only at positions whose byte pair is in the set: the trie alternation is cheap once
/// started, but trying it at every position of every view was most of the cost (measured 30 µs of 50 µs
/// per prompt before this filter).
struct StartFilter: Sendable {
    private var bits = [UInt64](repeating: 0, count: 1024)

    /// Adds every pair a key starting with `first` can start with: `first` then the first byte of one of
    /// `seconds`, or anything when `seconds` is nil (a one-atom key). ASCII letters are added in both cases,
    /// since patterns are caseless and the raw view is not folded. `repeated`: the first letter may repeat
    /// (`kkill` in the skeleton view).
    mutating func add(first: TermKey.Atom, seconds: [TermKey.Atom]?, repeated: Bool) {
        guard case .scalar(let value) = first, let scalar = Unicode.Scalar(value) else { return }
        let utf8 = Array(String(scalar).utf8)
        var firstBytes: [UInt8]
        var secondBytes: [UInt8]? = nil  // nil: any byte may follow
        if utf8.count >= 2 {
            firstBytes = [utf8[0]]
            secondBytes = [utf8[1]]
        } else {
            firstBytes = Self.cases(utf8[0])
            if let seconds {
                var bytes: [UInt8] = []
                for second in seconds {
                    // A separator atom may be empty: the key's next letter can follow at once, or anything.
                    guard case .scalar(let next) = second, let nextScalar = Unicode.Scalar(next) else {
                        bytes = Array(0...255)
                        break
                    }
                    bytes += Self.cases(Array(String(nextScalar).utf8)[0])
                }
                if repeated { bytes += Self.cases(utf8[0]) }
                secondBytes = bytes
            }
        }
        for first in firstBytes {
            if let secondBytes {
                for second in secondBytes { set(first, second) }
            } else {
                for second in 0...255 { set(first, UInt8(second)) }
            }
        }
    }

    private static func cases(_ byte: UInt8) -> [UInt8] {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): [byte, byte - 32]
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): [byte, byte + 32]
        default: [byte]
        }
    }

    private mutating func set(_ first: UInt8, _ second: UInt8) {
        let index = Int(first) << 8 | Int(second)
        bits[index >> 6] |= 1 << UInt64(index & 63)
    }

    /// Adds every pair of `other`.
    mutating func formUnion(_ other: StartFilter) {
        for index in bits.indices { bits[index] |= other.bits[index] }
    }

    /// Whether a term can start with `first` followed by `second` (0 at the end of the text).
    @inline(__always)
    func contains(_ first: UInt8, _ second: UInt8) -> Bool {
        let index = Int(first) << 8 | Int(second)
        return bits[index >> 6] & (1 << UInt64(index & 63)) != 0
    }
}
