/// A text field with its normalized views, built lazily and at most once, each with an offset map back to
/// the original.
///
/// Owned by one request; never shared between threads.
///
/// ```swift
/// let text = NormalizedText("ｍ.ｕ.ｒ.ｄ.ｅ.ｒ")
/// text.text(of: .joined)   // "murder"
/// ```
public final class NormalizedText {
    /// The original text.
    public let original: String
    /// UTF-8 byte offset of every original scalar, plus the total length at the end (built on first hit).
    private lazy var scalarByteOffsets: [Int32] = {
        var offsets = [Int32]()
        offsets.reserveCapacity(original.utf8.count + 1)
        var position: Int32 = 0
        for scalar in original.unicodeScalars {
            offsets.append(position)
            position += Int32(UTF8.width(scalar))
        }
        offsets.append(position)
        return offsets
    }()
    private var cache: [TextView?] = Array(repeating: nil, count: ViewKind.allCases.count)
    private var foldedUnits: [Unit]?
    private var joinedUnits: [Unit]?

    /// A scalar of a view with where it came from.
    struct Unit {
        var scalar: Unicode.Scalar
        var origin: Int32
        /// A token of the folded text starts or ends right before this scalar.
        var boundaryBefore: Bool = false
    }

    /// Builds every view of `original`.
    public init(_ original: String) {
        self.original = original
    }

    /// Builds every view now (benchmarks time view construction apart from matching).
    public func prepareViews() {
        for kind in ViewKind.allCases { _ = view(kind) }
    }

    /// The text of one view (for display and tests; matching uses the bytes).
    public func text(of kind: ViewKind) -> String? { view(kind)?.text }

    /// The view, or nil for `hans` when the text holds no Han character (it would equal `joined`).
    func view(_ kind: ViewKind) -> TextView? {
        if let cached = cache[kind.order] { return cached }
        let built: TextView?
        switch kind {
        case .raw: built = buildRaw()
        case .folded: built = Self.encode(kind: .folded, units: folded(), withBoundaries: false)
        case .joined: built = Self.encode(kind: .joined, units: joined(), withBoundaries: true)
        case .skeleton: built = Self.encode(kind: .skeleton, units: skeleton(), withBoundaries: true)
        case .hans: built = buildHans()
        }
        cache[kind.order] = built
        return built
    }

    /// Original span of a view's byte range: scalar offsets and UTF-8 byte offsets.
    func originalSpan(of range: Range<Int>, in view: TextView) -> (scalars: Range<Int>, bytes: Range<Int>) {
        let scalars = view.originalScalars(of: range)
        let bytes = Int(scalarByteOffsets[scalars.lowerBound])..<Int(scalarByteOffsets[scalars.upperBound])
        return (scalars, bytes)
    }

    /// The original text of a UTF-8 byte range.
    func originalText(bytes range: Range<Int>) -> String {
        let utf8 = original.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        let end = utf8.index(start, offsetBy: range.count)
        return String(original[start..<end])
    }

    // MARK: - Building the views

    private func buildRaw() -> TextView {
        let bytes = Array(original.utf8)
        var containsHan = false
        let tables = ScalarTables.shared
        // Han characters are 3- or 4-byte sequences with a lead byte of at least 0xE2.
        if bytes.contains(where: { $0 >= 0xE2 }) {
            containsHan = original.unicodeScalars.contains { $0.value >= 0x2E80 && tables.scalarClass($0) == .han }
        }
        return TextView(kind: .raw, bytes: bytes, scalarOrigin: [], tokenBoundaries: [], containsHan: containsHan)
    }

    private func folded() -> [Unit] {
        if let foldedUnits { return foldedUnits }
        var units = [Unit]()
        units.reserveCapacity(original.utf8.count + 8)
        let tables = ScalarTables.shared
        var index: Int32 = 0
        for scalar in original.unicodeScalars {
            let v = scalar.value
            if v < 0x80 {
                // ASCII folds to itself except upper-case letters; skip the table for the common case.
                let lowered = (v >= 0x41 && v <= 0x5A) ? Unicode.Scalar(UInt8(v + 0x20)) : scalar
                units.append(Unit(scalar: lowered, origin: index))
            } else {
                tables.forEachFolded(scalar) { units.append(Unit(scalar: $0, origin: index)) }
            }
            index += 1
        }
        foldedUnits = units
        return units
    }

    private func joined() -> [Unit] {
        if let joinedUnits { return joinedUnits }
        let units = Self.join(folded())
        joinedUnits = units
        return units
    }

    private func skeleton() -> [Unit] {
        let tables = ScalarTables.shared
        var mapped = folded()
        for i in mapped.indices { mapped[i].scalar = Self.leet(mapped[i].scalar) }
        // "!" stands for i only inside a word ("k!ll"); elsewhere it is punctuation ("wow!").
        for i in mapped.indices.dropFirst().dropLast() where mapped[i].scalar == "!" {
            if tables.scalarClass(mapped[i - 1].scalar) == .letter
                && tables.scalarClass(mapped[i + 1].scalar) == .letter
            {
                mapped[i].scalar = "l"
            }
        }
        let joinedLeet = Self.join(mapped)
        var units = [Unit]()
        units.reserveCapacity(joinedLeet.count + 8)
        var pendingBoundary = false
        var last: Unicode.Scalar? = nil
        for unit in joinedLeet {
            var first = true
            let boundary = unit.boundaryBefore || pendingBoundary
            pendingBoundary = false
            var emitted = false
            tables.forEachSkeleton(unit.scalar) { s in
                // Collapse letter repeats ("fuuuck"); Han repeats are left alone. `l` (which also stands for
                // `i`, `1` and `|`) is not collapsed: "kill" would shrink to "kl" and hit "KL" or German "KI".
                if let last, last == s, s != "l", tables.scalarClass(s) == .letter {
                    return
                }
                units.append(Unit(scalar: s, origin: unit.origin, boundaryBefore: first && boundary))
                first = false
                emitted = true
                last = s
            }
            // A collapsed scalar's boundary moves to the next emitted one (the end is always a boundary).
            if !emitted && boundary { pendingBoundary = true }
        }
        return units
    }

    private func buildHans() -> TextView? {
        guard let raw = view(.raw), raw.containsHan else { return nil }
        let units = joined()
        var scalars = units.map(\.scalar)
        HanConverter.shared.convert(&scalars)
        var converted = units
        for i in converted.indices { converted[i].scalar = scalars[i] }
        return Self.encode(kind: .hans, units: converted, withBoundaries: true)
    }

    /// Leetspeak and look-alike digits, applied before the skeleton (which maps `1` to `l`, so `i` joins them).
    static func leet(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        switch scalar {
        case "0": "o"
        case "1", "i", "|": "l"
        case "3": "e"
        case "4", "@": "a"
        case "5", "$": "s"
        case "7": "t"
        default: scalar
        }
    }

    /// Drops separators between joinable characters (see `ViewKind.joined`) and marks token boundaries.
    static func join(_ input: [Unit]) -> [Unit] {
        let tables = ScalarTables.shared
        let n = input.count
        var classes = [ScalarClass](repeating: .other, count: n)
        for i in 0..<n { classes[i] = tables.scalarClass(input[i].scalar) }
        var out = [Unit]()
        out.reserveCapacity(n)
        var tokenLength = 0
        var i = 0
        while i < n {
            if !classes[i].isSeparator {
                var unit = input[i]
                // A token also ends where Han text meets other letters ("一个porn网站").
                unit.boundaryBefore = tokenLength == 0 || (classes[i - 1] == .han) != (classes[i] == .han)
                out.append(unit)
                tokenLength += 1
                i += 1
                continue
            }
            var j = i
            var hasSpace = false
            while j < n && classes[j].isSeparator {
                if classes[j] == .space { hasSpace = true }
                j += 1
            }
            var removable = false
            if i > 0, j < n, classes[i - 1].isJoinable, classes[j].isJoinable {
                if classes[i - 1] == .han && classes[j] == .han || !hasSpace {
                    removable = true
                } else if tokenLength == 1 {
                    // Spaced single letters ("k i l l") join; "pen is" does not.
                    var k = j
                    while k < n && !classes[k].isSeparator { k += 1 }
                    removable = k - j == 1
                }
            }
            if !removable {
                for k in i..<j {
                    var unit = input[k]
                    unit.boundaryBefore = true
                    out.append(unit)
                }
            }
            tokenLength = 0
            i = j
        }
        return out
    }

    /// UTF-8 bytes, the per-byte origin map and (optionally) the token-boundary marks of a unit list.
    /// Sized first, then written through pointers: appending element by element was the largest single cost
    /// of building the views.
    static func encode(kind: ViewKind, units: [Unit], withBoundaries: Bool) -> TextView {
        let tables = ScalarTables.shared
        return units.withUnsafeBufferPointer { units in
            var byteCount = 0
            for unit in units { byteCount += UTF8.width(unit.scalar) }
            var containsHan = false
            let origin = [Int32](unsafeUninitializedCapacity: units.count) { buffer, count in
                for (index, unit) in units.enumerated() { buffer[index] = unit.origin }
                count = units.count
            }
            var bytes: [UInt8] = []
            let markCount = withBoundaries ? byteCount + 1 : 0
            let boundaries = [UInt8](unsafeUninitializedCapacity: markCount) { marks, marked in
                _ = marks.initialize(repeating: 0)
                marked = markCount
                bytes = [UInt8](unsafeUninitializedCapacity: byteCount) { out, written in
                    var position = 0
                    for unit in units {
                        if withBoundaries, unit.boundaryBefore { marks[position] = 1 }
                        let value = unit.scalar.value
                        if value < 0x80 {
                            out[position] = UInt8(truncatingIfNeeded: value)
                            position += 1
                            continue
                        }
                        if !containsHan, value >= 0x2E80, tables.scalarClass(unit.scalar) == .han { containsHan = true }
                        if value < 0x800 {
                            out[position] = UInt8(truncatingIfNeeded: 0xC0 | value >> 6)
                            out[position + 1] = UInt8(truncatingIfNeeded: 0x80 | value & 0x3F)
                            position += 2
                        } else if value < 0x10000 {
                            out[position] = UInt8(truncatingIfNeeded: 0xE0 | value >> 12)
                            out[position + 1] = UInt8(truncatingIfNeeded: 0x80 | (value >> 6) & 0x3F)
                            out[position + 2] = UInt8(truncatingIfNeeded: 0x80 | value & 0x3F)
                            position += 3
                        } else {
                            out[position] = UInt8(truncatingIfNeeded: 0xF0 | value >> 18)
                            out[position + 1] = UInt8(truncatingIfNeeded: 0x80 | (value >> 12) & 0x3F)
                            out[position + 2] = UInt8(truncatingIfNeeded: 0x80 | (value >> 6) & 0x3F)
                            out[position + 3] = UInt8(truncatingIfNeeded: 0x80 | value & 0x3F)
                            position += 4
                        }
                    }
                    if withBoundaries { marks[byteCount] = 1 }
                    written = position
                }
            }
            return TextView(
                kind: kind, bytes: bytes, scalarOrigin: origin, tokenBoundaries: boundaries, containsHan: containsHan)
        }
    }
}
