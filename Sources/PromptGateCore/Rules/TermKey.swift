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
            case .hans:
                text = NormalizedText(String(word)).text(of: .hans) ?? NormalizedText(String(word)).text(of: .joined)
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
        guard let first = trimmed.unicodeScalars.first,
            let last = folded.unicodeScalars.last(where: { !$0.properties.isWhitespace })
        else { return "term '\(term)' is empty after normalization" }
        let tables = ScalarTables.shared
        for scalar in [first, last] where tables.scalarClass(scalar).isSeparator {
            return
                "term '\(term)' must start and end with a letter, digit or Han character (use 'pattern' for anything else)"
        }
        return nil
    }
}
