import CICUWrap

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
        /// The first original scalar it came from.
        var origin: Int32
        /// How many original scalars after `origin` it also covers (combining marks folded into a letter, a
        /// multi-character look-alike such as `|<`).
        var extra: UInt8 = 0
        /// A token of the folded text starts or ends right before this scalar.
        var boundaryBefore: Bool = false
        /// The original scalar the skeleton view maps (it folds on its own terms), or `Unit.fromFold` when it
        /// must map this folded scalar instead (accents composed from marks, or stripped).
        var from: UInt32 = Unit.fromFold

        static let fromFold = UInt32.max
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
        return TextView(
            kind: .raw, bytes: bytes, scalarOrigin: [], originExtra: [], tokenBoundaries: [], containsHan: containsHan)
    }

    /// The fold, keeping accents: a letter with one combining mark that composes with it is the accented
    /// letter (`e` + U+0301 is `é`, as if typed precomposed), so words of other languages keep their letters
    /// (`râpé`, `Göre`). Marks that do not compose, or several on one letter (stacked "Zalgo" text), are an
    /// evasion: they are removed, and every accent of that word with them (`m̴ú̷r̸d̵e̶r̷` is `murder`).
    private func folded() -> [Unit] {
        if let foldedUnits { return foldedUnits }
        var evasive: [Int32] = []
        var units = fold(stripping: nil, evasive: &evasive)
        if !evasive.isEmpty {
            // Strip the accents of every word that carries an evasive cluster.
            let tables = ScalarTables.shared
            var strip = Set<Int32>()
            var start = 0
            while start < units.count {
                var end = start
                while end < units.count, !tables.scalarClass(units[end].scalar).isSeparator { end += 1 }
                if end > start {
                    let first = units[start].origin
                    let last = units[end - 1].origin + Int32(units[end - 1].extra)
                    if evasive.contains(where: { $0 >= first && $0 <= last }) {
                        for index in first...last { strip.insert(index) }
                    }
                }
                start = end + 1
            }
            units = fold(stripping: strip, evasive: &evasive)
        }
        foldedUnits = units
        return units
    }

    /// One pass of the fold; `stripping`: original scalars whose accents go. Appends to `evasive` the index
    /// of every letter that carried marks that did not compose or several marks.
    private func fold(stripping: Set<Int32>?, evasive: inout [Int32]) -> [Unit] {
        var units = [Unit]()
        units.reserveCapacity(original.utf8.count + 8)
        let tables = ScalarTables.shared
        var scalars = original.unicodeScalars.makeIterator()
        var next = scalars.next()
        var index: Int32 = 0
        while let scalar = next {
            next = scalars.next()
            guard let following = next, following.value >= 0x300, tables.isMark(following) else {
                let v = scalar.value
                if v < 0x80 {
                    // ASCII folds to itself except upper-case letters; skip the table for the common case.
                    let lowered = (v >= 0x41 && v <= 0x5A) ? Unicode.Scalar(UInt8(v + 0x20)) : scalar
                    units.append(Unit(scalar: lowered, origin: index, from: v))
                } else if let stripping, stripping.contains(index) {
                    tables.forEachStripped(scalar) { units.append(Unit(scalar: $0, origin: index)) }
                } else {
                    tables.forEachFolded(scalar) { units.append(Unit(scalar: $0, origin: index, from: v)) }
                }
                index += 1
                continue
            }
            var marks = [following]
            next = scalars.next()
            while let mark = next, mark.value >= 0x300, tables.isMark(mark) {
                marks.append(mark)
                next = scalars.next()
            }
            let before = units.count
            let composed = marks.count == 1 ? pgicu_compose(scalar.value, marks[0].value) : -1
            if composed >= 0, let letter = Unicode.Scalar(UInt32(composed)), !(stripping?.contains(index) ?? false) {
                tables.forEachFolded(letter) { units.append(Unit(scalar: $0, origin: index)) }
            } else {
                if composed < 0 { evasive.append(index) }
                tables.forEachStripped(scalar) { units.append(Unit(scalar: $0, origin: index)) }
            }
            if units.count > before { units[units.count - 1].extra = UInt8(min(marks.count, 255)) }
            index += 1 + Int32(marks.count)
        }
        return units
    }

    private func joined() -> [Unit] {
        if let joinedUnits { return joinedUnits }
        let units = Self.join(folded())
        joinedUnits = units
        return units
    }

    /// Look-alikes mapped to the letter they imitate, then the joined form. Per original scalar (per folded
    /// one where marks were composed or stripped): leetspeak, the TR39 skeleton and the fold until they agree
    /// (see `pgicu_skeleton_keep_scalar`), then leetspeak again, so that a look-alike and the letter it
    /// imitates become one letter whichever map knows it (Cyrillic `і` is `i` to the skeleton and `l` to
    /// leetspeak, like Latin `i`; capital Greek `Β` is `B`, then `b`, like Latin `B`).
    /// Multi-character look-alikes (`|<`, `|\/|`, `()`) and letter-like symbols (`@`, `$`, `€`) count only
    /// next to a letter, where the text could not be a term otherwise.
    private func skeleton() -> [Unit] {
        let tables = ScalarTables.shared
        let source = folded()
        var mapped = [Unit]()
        mapped.reserveCapacity(source.count + 8)
        let count = source.count
        // Letters, digits and what may stand for them: where a look-alike sequence or symbol counts.
        let wordlike = source.map { unit -> Bool in
            let scalar = unit.scalar
            if scalar.value < 0x80 { return Self.asciiWordlike[Int(scalar.value)] }
            let kind = tables.scalarClass(scalar)
            return kind == .letter || kind == .digit || Self.symbol(scalar) != nil
        }
        func isWordlike(_ position: Int) -> Bool { position >= 0 && position < count && wordlike[position] }
        var i = 0
        while i < count {
            let unit = source[i]
            let value = unit.scalar.value
            if value < 0x80, Self.startsMultiCharacter(value),
                let (letter, length) = Self.multiCharacter(source, at: i),
                isWordlike(i - 1) || isWordlike(i + length)
            {
                let last = source[i + length - 1]
                let extra = UInt8(min(Int(last.origin) + Int(last.extra) - Int(unit.origin), 255))
                tables.forEachSkeleton(letter) { s in
                    mapped.append(Unit(scalar: Self.leet(s), origin: unit.origin, extra: extra))
                }
                i += length
                continue
            }
            // The units one original scalar folded to (`ﬁ` is `f`, `i`) map as that scalar.
            var end = i + 1
            var input = unit.scalar
            if unit.from != Unit.fromFold, let original = Unicode.Scalar(unit.from) {
                while end < count, source[end].origin == unit.origin, source[end].from == unit.from { end += 1 }
                input = original
            }
            let symbolHere = isWordlike(i - 1) || isWordlike(end)
            let inWord = isWordlike(i - 1) && isWordlike(end)
            let extra = source[end - 1].extra
            // Leetspeak and symbols before the skeleton and after it: `€` is `ꞓ` to the skeleton.
            var start = Self.leet(input)
            if start == input, let symbol = Self.symbol(input), symbol.bothSides ? inWord : symbolHere {
                start = symbol.letter
            }
            tables.forEachSkeleton(start) { s in
                var letter = Self.leet(s)
                if letter == s, let symbol = Self.symbol(s), symbol.bothSides ? inWord : symbolHere {
                    letter = symbol.letter
                }
                mapped.append(Unit(scalar: letter, origin: unit.origin, extra: extra))
            }
            i = end
        }
        return Self.join(mapped)
    }

    /// Leetspeak digits, applied everywhere in the skeleton view (`1`, `i` and `l` are one letter there).
    static func leet(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        switch scalar {
        case "0": "o"
        case "1", "i", "|": "l"
        case "3": "e"
        case "4": "a"
        case "5": "s"
        case "7": "t"
        default: scalar
        }
    }

    /// The letter a letter-like symbol or digit stands for next to a letter (`bothSides`: only inside a word,
    /// for `!`, which ends sentences). A switch: a dictionary lookup here, twice per scalar, was a fifth of
    /// the time of building the views.
    @inline(__always)
    static func symbol(_ scalar: Unicode.Scalar) -> (letter: Unicode.Scalar, bothSides: Bool)? {
        switch scalar {
        case "@": ("a", false)
        case "$": ("s", false)
        case "€": ("e", false)
        case "£": ("l", false)
        case "¥": ("y", false)
        case "¢": ("c", false)
        case "+": ("t", false)
        case "#": ("h", false)
        case "8": ("b", false)
        case "9": ("g", false)
        case "!": ("l", true)
        default: nil
        }
    }

    /// ASCII letters, digits, leetspeak and symbol characters.
    static let asciiWordlike: [Bool] = (0..<128).map { value in
        let scalar = Unicode.Scalar(UInt8(value))
        return scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || leet(scalar) != scalar
            || symbol(scalar) != nil
    }

    /// Whether a multi-character look-alike can start with this ASCII scalar.
    @inline(__always)
    static func startsMultiCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x7C, 0x2F, 0x5C, 0x28, 0x5B, 0x5D, 0x3E: true  // | / \ ( [ ] >
        default: false
        }
    }

    /// Multi-character look-alikes, longest first.
    static let multiCharacterLetters: [(text: [UInt32], letter: Unicode.Scalar)] = [
        (#"|\/|"#, "m"), (#"/\/\"#, "m"), (#"\/\/"#, "w"), (#"|\|"#, "n"), (#"/\/"#, "n"), ("|_|", "u"),
        ("(_)", "u"), ("|-|", "h"), ("]-[", "h"), (#"\/"#, "v"), (#"/\"#, "a"), ("|<", "k"), ("|{", "k"),
        ("()", "o"), ("[]", "o"), ("|)", "d"), ("|]", "d"), ("|2", "r"), ("|_", "l"), ("><", "x"), ("|=", "f"),
        ("|>", "p"), ("|*", "p"),
    ].map { text, letter in (text.unicodeScalars.map(\.value), letter) }

    /// The letter a multi-character look-alike at `position` stands for, and its length.
    static func multiCharacter(_ units: [Unit], at position: Int) -> (Unicode.Scalar, Int)? {
        candidates: for (text, letter) in multiCharacterLetters where position + text.count <= units.count {
            for (offset, value) in text.enumerated() where units[position + offset].scalar.value != value {
                continue candidates
            }
            return (letter, text.count)
        }
        return nil
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
            var anyExtra = false
            let origin = [Int32](unsafeUninitializedCapacity: units.count) { buffer, count in
                for (index, unit) in units.enumerated() {
                    buffer[index] = unit.origin
                    if unit.extra != 0 { anyExtra = true }
                }
                count = units.count
            }
            let extra = anyExtra ? units.map(\.extra) : []
            var bytes: [UInt8] = []
            let markCount = withBoundaries ? byteCount + 1 : 0
            let boundaries = [UInt8](unsafeUninitializedCapacity: markCount) { marks, marked in
                marks.initialize(repeating: 0)
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
                kind: kind, bytes: bytes, scalarOrigin: origin, originExtra: extra, tokenBoundaries: boundaries,
                containsHan: containsHan)
        }
    }
}
