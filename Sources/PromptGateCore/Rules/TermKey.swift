/// A blocklist term as it appears in one view: the view's normalization applied word by word, so the term
/// and the text are normalized the same way. Whitespace inside a term becomes a flexible separator.
struct TermKey: Hashable {
    enum Atom: Hashable, Comparable {
        case scalar(UInt32)
        /// Any run of non-letters, non-digits (possibly empty): `self harm` matches `self-harm`, `selfharm`.
        case separator
    }

    let atoms: [Atom]
    /// Holds a Han character: matched with word segmentation instead of token boundaries.
    let isHan: Bool

    /// The term's key in `view`, or nil when the view would leave nothing to match.
    init?(term: String, view: ViewKind) {
        var atoms: [Atom] = []
        var isHan = false
        let tables = ScalarTables.shared
        for word in term.split(whereSeparator: { $0.isWhitespace }) {
            let text: String?
            switch view {
            case .raw: text = word.lowercased()
            case .hans: text = NormalizedText(String(word)).text(of: .hans) ?? NormalizedText(String(word)).text(of: .joined)
            default: text = NormalizedText(String(word)).text(of: view)
            }
            guard let text, !text.isEmpty else { continue }
            if !atoms.isEmpty { atoms.append(.separator) }
            for scalar in text.unicodeScalars {
                atoms.append(.scalar(scalar.value))
                if tables.scalarClass(scalar) == .han { isHan = true }
            }
        }
        guard !atoms.isEmpty else { return nil }
        self.atoms = atoms
        self.isHan = isHan
    }

    /// Why `term` cannot be a literal term, or nil when it can.
    static func problem(with term: String) -> String? {
        let folded = NormalizedText(term).text(of: .folded) ?? ""
        let trimmed = folded.trimmingPrefix(while: { $0.isWhitespace })
        guard let first = trimmed.unicodeScalars.first, let last = folded.unicodeScalars.last(where: { !$0.properties.isWhitespace })
        else { return "term '\(term)' is empty after normalization" }
        let tables = ScalarTables.shared
        for scalar in [first, last] where tables.scalarClass(scalar).isSeparator {
            return "term '\(term)' must start and end with a letter, digit or Han character (use 'pattern' for anything else)"
        }
        return nil
    }
}

/// A prefix tree of term keys, rendered as one trie-factored PCRE2 alternation: shared prefixes are written
/// once, so PCRE2 does not retry every term at every position (measured 3.5k vs 111k prompts/s at 1000 terms).
struct TermTrie {
    private final class Node {
        var children: [TermKey.Atom: Node] = [:]
        var terminal: (id: Int, isHan: Bool)?
    }

    /// Latin keys (word or token boundaries) and Han keys (segmentation; a mixed key such as `av女优` counts
    /// as Han) live in separate trees, so each group gets its own start condition.
    private let latinRoot = Node()
    private let hanRoot = Node()
    private(set) var count = 0
    /// Which first two UTF-8 bytes a Latin match can start with (see `StartFilter`).
    private(set) var latinStarts = StartFilter()
    /// The same for Han keys; a Han key may start anywhere, a Latin key only where a token starts.
    private(set) var hanStarts = StartFilter()

    /// Adds a key; returns its id (an existing one when the key is already present).
    mutating func insert(_ key: TermKey) -> Int {
        var node = key.isHan ? hanRoot : latinRoot
        for atom in key.atoms {
            if let next = node.children[atom] {
                node = next
            } else {
                let next = Node()
                node.children[atom] = next
                node = next
            }
        }
        if let terminal = node.terminal { return terminal.id }
        if key.isHan { hanStarts.add(key) } else { latinStarts.add(key) }
        node.terminal = (count, key.isHan)
        count += 1
        return count - 1
    }

    /// The alternation. Each term ends in `(*MARK:id)` and its boundary check: `\b` in raw/folded, a callout
    /// elsewhere (token boundaries for Latin, word segmentation for Han). Longer terms are tried first.
    func render(view: ViewKind) -> String? {
        var groups: [String] = []
        if !latinRoot.children.isEmpty {
            let body = Self.render(latinRoot, view: view)
            groups.append(view.usesTokenBoundaries ? body : Self.latinStart + body)
        }
        if !hanRoot.children.isEmpty { groups.append(Self.render(hanRoot, view: view)) }
        switch groups.count {
        case 0: return nil
        case 1: return groups[0]
        default: return "(?:" + groups.joined(separator: "|") + ")"
        }
    }

    /// Word boundaries for Latin keys in raw/folded: like `\b`, except that a Han character next to the
    /// term also counts as a boundary, since Chinese text glues English words on without spaces
    /// ("一个porn网站"). `[^\P{L}\p{Han}]` is "a letter that is not Han".
    static let latinStart = #"(?<![^\P{L}\p{Han}]|\p{N})"#
    static let latinEnd = #"(?![^\P{L}\p{Han}]|\p{N})"#

    private static func render(_ node: Node, view: ViewKind) -> String {
        var parts: [String] = []
        for (atom, child) in node.children.sorted(by: { $0.key < $1.key }) {
            parts.append(render(atom) + render(child, view: view))
        }
        if let terminal = node.terminal {
            let check: String
            if terminal.isHan {
                check = "(?C\(CalloutNumber.hanWord))"
            } else if view.usesTokenBoundaries {
                check = "(?C\(CalloutNumber.tokenBoundary))"
            } else {
                check = Self.latinEnd
            }
            parts.append("\(check)(*MARK:\(terminal.id))")
        }
        if parts.count == 1 { return parts[0] }
        return "(?:" + parts.joined(separator: "|") + ")"
    }

    private static func render(_ atom: TermKey.Atom) -> String {
        switch atom {
        case .separator: return "[^\\p{L}\\p{N}]*"
        case .scalar(let value):
            guard let scalar = Unicode.Scalar(value) else { return "" }
            return Regex.escape(String(scalar))
        }
    }
}

/// The set of first-two-byte pairs that can start a term (a 64K-bit map). The scanner runs the anchored
/// term pattern only at positions whose byte pair is in the set: the trie alternation is cheap once
/// started, but trying it at every position of every view was most of the cost (measured 30 µs of 50 µs
/// per prompt before this filter).
struct StartFilter: Sendable {
    private var bits = [UInt64](repeating: 0, count: 1024)

    /// Adds every pair `key` can start with. ASCII letters are added in both cases, since patterns are
    /// caseless and the raw view is not folded.
    mutating func add(_ key: TermKey) {
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
