import CICUWrap

/// How the joined and skeleton views treat a scalar.
enum ScalarClass: UInt8 {
    case other = 0, letter, digit, han, space, separator

    /// Letters and Han characters are what separators may be removed between.
    var isJoinable: Bool { self == .letter || self == .han }
    /// Separators and spaces are dropped between joinable characters.
    var isSeparator: Bool { self == .space || self == .separator }
}

/// Per-scalar mappings computed with ICU, a block of 256 scalars at a time when a text first needs one (see
/// `pgicu_block_of`), then shared read-only by every thread.
///
/// Tabulating the whole Basic Multilingual Plane up front (65k ICU calls) cost every start 0.15 s; a block
/// costs well under a millisecond, and English text touches a handful.
struct ScalarTables: Sendable {
    static let shared = ScalarTables()

    /// Calls `body` with each scalar of the fold of `scalar` that keeps accents: NFKC_Casefold, composed
    /// (`É` → `é`, `ﬁ` → `fi`), default-ignorables and stray combining marks folded to nothing.
    @inline(__always)
    func forEachFolded(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        guard let block = pgicu_block_of(scalar.value) else { return body(scalar) }
        let index = scalar.value & 0xFF
        Self.forEach(block, pgicu_block_fold_start(block, index), pgicu_block_fold_start(block, index + 1), body)
    }

    /// Calls `body` with each scalar of the fold of `scalar` that strips accents (`é` → `e`), for letters
    /// carrying marks stacked as an evasion.
    @inline(__always)
    func forEachStripped(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        guard let block = pgicu_block_of(scalar.value) else { return body(scalar) }
        let index = scalar.value & 0xFF
        Self.forEach(block, pgicu_block_strip_start(block, index), pgicu_block_strip_start(block, index + 1), body)
    }

    /// Calls `body` with each scalar of the case-folded confusable skeleton of `scalar` (accents kept).
    @inline(__always)
    func forEachSkeleton(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        guard let block = pgicu_block_of(scalar.value) else { return body(scalar) }
        let index = scalar.value & 0xFF
        Self.forEach(
            block, pgicu_block_skeleton_start(block, index), pgicu_block_skeleton_start(block, index + 1), body)
    }

    @inline(__always)
    func scalarClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        guard let block = pgicu_block_of(scalar.value) else { return .other }
        let raw = pgicu_block_class(block, scalar.value & 0xFF) & ~UInt8(PGICU_MARK)
        return ScalarClass(rawValue: raw) ?? .other
    }

    /// Whether `scalar` is a nonspacing or enclosing combining mark.
    @inline(__always)
    func isMark(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.value >= 0x300, let block = pgicu_block_of(scalar.value) else { return false }
        return pgicu_block_class(block, scalar.value & 0xFF) & UInt8(PGICU_MARK) != 0
    }

    @inline(__always)
    private static func forEach(
        _ block: UnsafePointer<pgicu_block>, _ start: UInt32, _ end: UInt32, _ body: (Unicode.Scalar) -> Void
    ) {
        let pool = pgicu_block_pool(block)!
        for i in Int(start)..<Int(end) {
            // Table entries are scalars ICU produced; a bad one (never seen) is skipped.
            if let scalar = Unicode.Scalar(pool[i]) { body(scalar) }
        }
    }

    /// The three mappings computed by ICU directly, bypassing the tables (tests compare the two).
    static func computeFolded(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        callICU { pgicu_fold_keep_scalar(scalar.value, $0, $1) } ?? [scalar]
    }

    static func computeStripped(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        callICU { pgicu_fold_scalar(scalar.value, $0, $1) } ?? [scalar]
    }

    static func computeSkeleton(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        callICU { pgicu_skeleton_keep_scalar(scalar.value, $0, $1) } ?? [scalar]
    }

    private static func callICU(_ body: (UnsafeMutablePointer<UInt32>, Int32) -> Int32) -> [Unicode.Scalar]? {
        var buffer = [UInt32](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, 32) }
        guard count >= 0, count <= 32 else { return nil }
        return buffer[0..<Int(count)].compactMap(Unicode.Scalar.init)
    }
}
