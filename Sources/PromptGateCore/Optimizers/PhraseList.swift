import Glibc

/// Adding words to a prompt without ever adding one twice: presence is checked on the folded text
/// (case, width and punctuation do not matter, so "8K" counts for "8k"), Latin phrases as whole words,
/// Han phrases as substrings ("超高清" already holds "高清").
struct PhraseList: Sendable {
    /// A phrase with its matching keys (UTF-8).
    struct Phrase: Sendable, Equatable {
        let text: String
        /// Folded, separators made single spaces, framed by spaces: " high quality ".
        let spaced: [UInt8]
        /// The same without any space, for Han substring checks.
        let compact: [UInt8]
        let isHan: Bool

        init(_ text: String) {
            self.text = text
            let key = PhraseList.key(of: text)
            spaced = key.spaced
            compact = key.compact
            isHan = key.isHan
        }

        var isEmpty: Bool { compact.isEmpty }
    }

    let phrases: [Phrase]

    init(_ texts: [String]) {
        var seen = Set<[UInt8]>()
        phrases = texts.map(Phrase.init).filter { !$0.isEmpty && seen.insert($0.spaced).inserted }
    }

    /// Appends every phrase the haystack lacks, with ", " (or "，" after Han text). Returns the new text
    /// and what was added; `haystack` is updated to match.
    func append(to text: String, haystack: inout Haystack) -> (text: String, added: [String]) {
        var added: [String] = []
        for phrase in phrases where !haystack.contains(phrase) {
            haystack.add(phrase)
            added.append(phrase.text)
        }
        guard !added.isEmpty else { return (text, []) }
        return (Self.joined(text, added), added)
    }

    /// The same with a haystack built from `text`.
    func append(to text: String) -> (text: String, added: [String]) {
        var haystack = Haystack(text)
        return append(to: text, haystack: &haystack)
    }

    /// Whether the haystack holds any of the phrases (keyword matching for LoRA rules).
    func matchesAny(in haystack: Haystack) -> Bool {
        phrases.contains { haystack.contains($0) }
    }

    /// `text` and `additions` joined with ", ", or "，" after a part that ends in Han, after trimming trailing
    /// spaces and commas from `text`.
    static func joined(_ text: String, _ additions: [String]) -> String {
        var base = Substring(text)
        while let last = base.last, last.isWhitespace || last == "," || last == "，" || last == "、" {
            base = base.dropLast()
        }
        var result = String(base)
        result.reserveCapacity(result.utf8.count + additions.reduce(0) { $0 + $1.utf8.count + 3 })
        for addition in additions {
            if let last = result.unicodeScalars.last {
                result += ScalarTables.shared.scalarClass(last) == .han ? "，" : ", "
            }
            result += addition
        }
        return result
    }

    /// The matching keys of a text: folded, every run of separators made one space, a space where Han meets
    /// other letters; framed by spaces (`spaced`) and without spaces (`compact`).
    static func key(of text: String) -> (spaced: [UInt8], compact: [UInt8], isHan: Bool) {
        key(folded: NormalizedText(text).view(.folded)?.bytes ?? Array(text.utf8))
    }

    /// The same from the UTF-8 of an already folded text (the prompt's cached `folded` view).
    static func key(folded bytes: [UInt8]) -> (spaced: [UInt8], compact: [UInt8], isHan: Bool) {
        let tables = ScalarTables.shared
        var isHan = false
        var compactCount = 0
        // Both keys are at most the input plus a space per byte plus the frame; written through pointers.
        var compactStorage = [UInt8](repeating: 0, count: bytes.count)
        let spaced = [UInt8](unsafeUninitializedCapacity: bytes.count * 2 + 2) { spaced, spacedCount in
            compactStorage.withUnsafeMutableBufferPointer { compact in
                bytes.withUnsafeBufferPointer { bytes in
                    var out = 0
                    spaced[out] = 0x20
                    out += 1
                    var previous: ScalarClass = .space
                    var index = 0
                    while index < bytes.count {
                        let lead = bytes[index]
                        if lead < 0x80 {
                            // ASCII: letters and digits are kept, everything else separates.
                            if (lead >= 0x30 && lead <= 0x39) || (lead | 0x20 >= 0x61 && lead | 0x20 <= 0x7A) {
                                if previous == .han {
                                    spaced[out] = 0x20
                                    out += 1
                                }
                                spaced[out] = lead
                                out += 1
                                compact[compactCount] = lead
                                compactCount += 1
                                previous = .letter
                            } else {
                                if previous != .space {
                                    spaced[out] = 0x20
                                    out += 1
                                }
                                previous = .space
                            }
                            index += 1
                            continue
                        }
                        // Decode one scalar (the view's bytes are valid UTF-8, encoded by us).
                        let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                        let end = min(bytes.count, index + length)
                        var value = UInt32(lead) & (0xFF >> UInt32(length + 1))
                        for k in (index + 1)..<end { value = value << 6 | UInt32(bytes[k] & 0x3F) }
                        let cls = Unicode.Scalar(value).map(tables.scalarClass) ?? .separator
                        if cls.isSeparator {
                            if previous != .space {
                                spaced[out] = 0x20
                                out += 1
                            }
                            previous = .space
                        } else {
                            if cls == .han { isHan = true }
                            if previous != .space && (previous == .han) != (cls == .han) {
                                spaced[out] = 0x20
                                out += 1
                            }
                            for k in index..<end {
                                spaced[out] = bytes[k]
                                out += 1
                                compact[compactCount] = bytes[k]
                                compactCount += 1
                            }
                            previous = cls
                        }
                        index = end
                    }
                    if spaced[out - 1] != 0x20 {
                        spaced[out] = 0x20
                        out += 1
                    }
                    spacedCount = out
                }
            }
        }
        compactStorage.removeLast(compactStorage.count - compactCount)
        return (spaced, compactStorage, isHan)
    }

    /// A text prepared for phrase lookups.
    struct Haystack {
        private(set) var spaced: [UInt8]
        private(set) var compact: [UInt8]

        init(_ text: String) {
            (spaced, compact, _) = PhraseList.key(of: text)
        }

        init(folded bytes: [UInt8]) {
            (spaced, compact, _) = PhraseList.key(folded: bytes)
        }

        func contains(_ phrase: Phrase) -> Bool {
            phrase.isHan ? Self.find(phrase.compact, in: compact) : Self.find(phrase.spaced, in: spaced)
        }

        mutating func add(_ phrase: Phrase) {
            spaced.append(contentsOf: phrase.spaced.dropFirst())
            compact.append(contentsOf: phrase.compact)
        }

        /// Byte search: `memchr` for an anchor byte, `memcmp` for the rest (Foundation's String search went
        /// through CFString and cost microseconds per call). Spaced needles all start with a space, so the
        /// anchor is their second byte, or `memchr` would stop at every word.
        static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
            guard !needle.isEmpty else { return true }
            guard needle.count <= haystack.count else { return false }
            let anchor = needle.count > 1 && needle[0] == 0x20 ? 1 : 0
            return haystack.withUnsafeBytes { h in
                needle.withUnsafeBytes { n in
                    guard let hBase = h.baseAddress, let nBase = n.baseAddress else { return false }
                    let byte = Int32(n[anchor])
                    // Candidate starts run from 0 to h.count - n.count; the anchor sits `anchor` bytes in.
                    var start = 0
                    let last = h.count - n.count
                    while start <= last {
                        guard let hit = memchr(hBase + start + anchor, byte, last - start + 1) else { return false }
                        let candidate = (UnsafeRawPointer(hit) - hBase) - anchor
                        if memcmp(hBase + candidate, nBase, n.count) == 0 { return true }
                        start = candidate + 1
                    }
                    return false
                }
            }
        }
    }
}
