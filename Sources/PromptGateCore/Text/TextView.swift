/// One normalized view of a text field: UTF-8 bytes for PCRE2 plus the maps a match needs.
///
/// Owned by one request; never shared between threads.
final class TextView {
    let kind: ViewKind
    /// The view's text as UTF-8 (what PCRE2 sees; match offsets are byte offsets into it).
    let bytes: [UInt8]
    /// For every scalar of the view, the index of the original scalar it came from; empty for `raw`, whose
    /// scalars are the original ones. Mapped to bytes only when a hit needs it.
    let scalarOrigin: [Int32]
    /// For every scalar of the view, how many original scalars after its origin it also covers (folded marks,
    /// multi-character look-alikes); empty when none does.
    let originExtra: [UInt8]
    /// For byte positions `0...bytes.count`: 1 where a token of the folded text starts or ends.
    /// Empty for `raw` and `folded`, which use `\b` instead.
    let tokenBoundaries: [UInt8]
    /// Whether the view holds any Han character (Han terms need word segmentation).
    let containsHan: Bool
    /// Word-segmentation boundaries (1 at a boundary), computed on first need.
    private(set) var hanBoundaries: [UInt8]?

    init(
        kind: ViewKind, bytes: [UInt8], scalarOrigin: [Int32], originExtra: [UInt8], tokenBoundaries: [UInt8],
        containsHan: Bool
    ) {
        self.kind = kind
        self.bytes = bytes
        self.scalarOrigin = scalarOrigin
        self.originExtra = originExtra
        self.tokenBoundaries = tokenBoundaries
        self.containsHan = containsHan
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Original scalar range covered by the view's byte range (hits only, so a linear walk is fine).
    func originalScalars(of range: Range<Int>) -> Range<Int> {
        // Index of the view scalar holding byte `range.lowerBound`, and of the one holding the last byte.
        var scalarIndex = -1
        var first = 0, last = 0
        let lastByte = max(range.lowerBound, range.upperBound - 1)
        for position in 0..<min(bytes.count, lastByte + 1) {
            if bytes[position] & 0xC0 != 0x80 { scalarIndex += 1 }
            if position == range.lowerBound { first = scalarIndex }
        }
        last = scalarIndex
        if range.lowerBound >= bytes.count {
            let end = origin(ofScalar: scalarIndex) + extra(ofScalar: scalarIndex) + 1
            return end..<end
        }
        if range.isEmpty { return origin(ofScalar: first)..<origin(ofScalar: first) }
        return origin(ofScalar: first)..<(origin(ofScalar: last) + extra(ofScalar: last) + 1)
    }

    private func extra(ofScalar index: Int) -> Int {
        guard index >= 0, index < originExtra.count else { return 0 }
        return Int(originExtra[index])
    }

    private func origin(ofScalar index: Int) -> Int {
        guard index >= 0 else { return 0 }
        return scalarOrigin.isEmpty ? index : Int(scalarOrigin[index])
    }

    /// ICU dictionary word boundaries of the view (Chinese segmentation), computed once with `breaker`.
    func hanBoundaries(using breaker: WordBreaker) -> [UInt8] {
        if let hanBoundaries { return hanBoundaries }
        let computed = breaker.boundaries(of: bytes)
        hanBoundaries = computed
        return computed
    }
}
