/// A prefix tree of term keys, rendered as trie-factored PCRE2 alternations (one, or a few chunks for large
/// packs): shared prefixes are written once, so PCRE2 does not retry every term at every position (measured
/// 3.5k vs 111k prompts/s at 1000 terms). `TermPrefixIndex` walks the same tree natively.
struct TermTrie {
    final class Node {
        var children: [TermKey.Atom: Node] = [:]
        var terminal: (id: Int, isHan: Bool)?
    }

    /// Latin keys (word or token boundaries) and Han keys (segmentation; a mixed key such as `av女优` counts
    /// as Han) live in separate trees, so each group gets its own start condition.
    private let latinRoot = Node()
    private let hanRoot = Node()
    private(set) var count = 0

    /// The Latin root, then the Han root (`TermPrefixIndex` flattens both).
    var roots: [Node] { [latinRoot, hanRoot] }

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
        node.terminal = (count, key.isHan)
        count += 1
        return count - 1
    }

    /// One compiled-pattern's worth of the trie: the alternation of some first atoms' subtrees, and the first
    /// two bytes its matches can start with.
    struct Chunk {
        var pattern: String
        var starts: StartFilter
        /// Han keys may start anywhere; Latin keys only where a token (or word) starts.
        var isHan: Bool
    }

    /// The alternation, in chunks of at most about `budget` characters of pattern (PCRE2 limits one compiled
    /// pattern to 64 KiB, which a few thousand terms exceed). Chunks split the trie by first atom, so at a
    /// given position the start filters usually leave one chunk to run (Han characters sharing their first two
    /// bytes may leave a few), and the prefix index rules most positions out before any runs. Each
    /// term ends in `(*MARK:id)` and its boundary check: `\b` in raw/folded, a callout elsewhere (token
    /// boundaries for Latin, word segmentation for Han). Longer terms are tried first.
    func chunks(view: ViewKind, budget: Int) -> [Chunk] {
        var chunks: [Chunk] = []
        for (root, isHan) in [(latinRoot, false), (hanRoot, true)] {
            var parts: [String] = []
            var size = 0
            var starts = StartFilter()
            func flush() {
                guard !parts.isEmpty else { return }
                let body = parts.count == 1 ? parts[0] : "(?:" + parts.joined(separator: "|") + ")"
                chunks.append(
                    Chunk(
                        pattern: isHan || view.usesTokenBoundaries ? body : Self.latinStart + body, starts: starts,
                        isHan: isHan))
                parts = []
                size = 0
                starts = StartFilter()
            }
            for (atom, child) in root.children.sorted(by: { $0.key < $1.key }) {
                let part = Self.render(atom, stretchable: view == .skeleton) + Self.render(child, view: view)
                if size > 0 && size + part.utf8.count > budget { flush() }
                parts.append(part)
                size += part.utf8.count
                let seconds = child.children.keys.map { $0 }
                starts.add(first: atom, seconds: child.terminal == nil ? seconds : nil, repeated: view == .skeleton)
            }
            flush()
        }
        return chunks
    }

    /// Word boundaries for Latin keys in raw/folded: like `\b`, except that a Han character next to the
    /// term also counts as a boundary, since Chinese text glues English words on without spaces
    /// ("一个porn网站"). `[^\P{L}\p{Han}]` is "a letter that is not Han".
    static let latinStart = #"(?<![^\P{L}\p{Han}]|\p{N})"#
    static let latinEnd = #"(?![^\P{L}\p{Han}]|\p{N})"#

    private static func render(_ node: Node, view: ViewKind) -> String {
        var parts: [String] = []
        for (atom, child) in node.children.sorted(by: { $0.key < $1.key }) {
            parts.append(render(atom, stretchable: view == .skeleton) + render(child, view: view))
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

    /// One atom; in the skeleton view a letter other than Han matches one or more of itself, so a stretched
    /// word (`kiiilll`, `fuuuck`, `ppoorrnn`) matches its term while the term's own letters all stay required
    /// (`kill` is `klll` there, so the shorter `kl` or `KI` never match it).
    private static func render(_ atom: TermKey.Atom, stretchable: Bool) -> String {
        switch atom {
        case .separator: return "[^\\p{L}\\p{N}]*"
        case .scalar(let value):
            guard let scalar = Unicode.Scalar(value) else { return "" }
            let escaped = Regex.escape(String(scalar))
            guard stretchable, ScalarTables.shared.scalarClass(scalar) == .letter else { return escaped }
            return escaped.unicodeScalars.count == 1 ? escaped + "+" : "(?:" + escaped + ")+"
        }
    }
}
