/// The set of first-two-byte pairs that can start a term (a 64K-bit map). The scanner runs the anchored
/// term pattern only at positions whose byte pair is in the set: the trie alternation is cheap once
/// started, but trying it at every position of every view was most of the cost (measured 30 µs of 50 µs
/// per prompt before this filter).
struct StartFilter: Sendable {
    private var bits = [UInt64](repeating: 0, count: 1024)

    /// Adds every pair `key` can start with. ASCII letters are added in both cases, since patterns are
    /// caseless and the raw view is not folded. `repeated`: the first letter may repeat (`kkill`).
    mutating func add(_ key: TermKey, repeated: Bool = false) {
        var firstBytes: [UInt8] = []
        var seconds: [UInt8]? = nil  // nil: any byte may follow
        guard case .scalar(let value) = key.atoms.first, let scalar = Unicode.Scalar(value) else { return }
        let utf8 = Array(String(scalar).utf8)
        if utf8.count >= 2 {
            firstBytes = [utf8[0]]
            seconds = [utf8[1]]
        } else {
            firstBytes = Self.cases(utf8[0])
            if key.atoms.count > 1, case .scalar(let next) = key.atoms[1], let nextScalar = Unicode.Scalar(next) {
                seconds = Self.cases(Array(String(nextScalar).utf8)[0])
                if repeated { seconds! += Self.cases(utf8[0]) }
            }
        }
        for first in firstBytes {
            if let seconds {
                for second in seconds { set(first, second) }
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

    /// Whether a term can start with `first` followed by `second` (0 at the end of the text).
    @inline(__always)
    func contains(_ first: UInt8, _ second: UInt8) -> Bool {
        let index = Int(first) << 8 | Int(second)
        return bits[index >> 6] & (1 << UInt64(index & 63)) != 0
    }
}
