/// A normalized form of a text field that rules run on. Every view keeps a map back to the original text.
///
/// - `raw`: the text as sent.
/// - `folded`: NFKC, full case folding, default-ignorable code points (zero-width characters, soft hyphen,
///   tag characters, variation selectors, bidi controls) and combining marks removed.
/// - `joined`: `folded` with separators removed between letters or Han characters: any run of punctuation,
///   symbols or prompt syntax without whitespace (`m.u.r.d.e.r`, `(mur)(der)`, `屠*杀`), whitespace between
///   single letters (`k i l l`) and any separator between Han characters (`屠 杀`, U+3000, full-width
///   punctuation). Latin terms must cover whole tokens of the folded text here.
/// - `skeleton`: `joined` built after a leetspeak map (0→o, 1→l, 3→e, 4→a, 5→s, 7→t, @→a, $→s, and i→l, `!` inside a
///   word →l, so that `1`, `i` and `l` are one letter), then the Unicode TR39 confusable skeleton, case folded, with
///   repeated letters collapsed (`fuuuck` → `fuck`, Cyrillic `рогn` → `porn`) except `l`, so that `kill`
///   (`klll`) stays longer than `KL` or `KI`.
/// - `hans`: `joined` converted from Traditional to Simplified Chinese (only built when the text has Han).
public enum ViewKind: String, CaseIterable, Sendable, Codable, Comparable {
    case raw, folded, joined, skeleton, hans

    var order: Int {
        switch self {
        case .raw: 0
        case .folded: 1
        case .joined: 2
        case .skeleton: 3
        case .hans: 4
        }
    }

    /// Orders views as they are scanned (raw, folded, joined, skeleton, hans).
    public static func < (lhs: ViewKind, rhs: ViewKind) -> Bool { lhs.order < rhs.order }

    /// Views where a Latin term must cover whole tokens of the folded text (checked by a PCRE2 callout);
    /// in `raw` and `folded` word boundaries (`\b`) do that job.
    var usesTokenBoundaries: Bool { self == .joined || self == .skeleton || self == .hans }
}
