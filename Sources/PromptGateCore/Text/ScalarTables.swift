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
/// costs well under a millisecond, and English text touches a handful. Folding scalar by scalar is exact for
/// matching because combining marks are dropped afterwards anyway, so the cross-scalar composition
/// whole-string NFKC would do cannot change the result.
struct ScalarTables: Sendable {
    static let shared = ScalarTables()

    /// Calls `body` with each scalar of the matching fold of `scalar` (NFKC_Casefold, marks removed).
    @inline(__always)
    func forEachFolded(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        guard let block = pgicu_block_of(scalar.value) else { return body(scalar) }
        let index = Int(scalar.value & 0xFF)
        Self.forEach(block, Self.foldStart(block, index)..<Self.foldStart(block, index + 1), body)
    }

    /// Calls `body` with each scalar of the case-folded confusable skeleton of `scalar`.
    @inline(__always)
    func forEachSkeleton(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        guard let block = pgicu_block_of(scalar.value) else { return body(scalar) }
        let index = Int(scalar.value & 0xFF)
        Self.forEach(block, Self.skeletonStart(block, index)..<Self.skeletonStart(block, index + 1), body)
    }

    @inline(__always)
    func scalarClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        guard let block = pgicu_block_of(scalar.value) else { return .other }
        let raw = UnsafeRawPointer(block).load(fromByteOffset: Int(scalar.value & 0xFF), as: UInt8.self)
        return ScalarClass(rawValue: raw) ?? .other
    }

    // Offsets into a block, as laid out in pgicu.h: classes[256], fold_start[257], skeleton_start[257], pool.
    private static let foldStartOffset = 256
    private static let skeletonStartOffset = 256 + 257 * 2
    private static let poolOffset = MemoryLayout<pgicu_block>.size

    @inline(__always)
    private static func foldStart(_ block: UnsafePointer<pgicu_block>, _ index: Int) -> Int {
        Int(UnsafeRawPointer(block).load(fromByteOffset: foldStartOffset + index * 2, as: UInt16.self))
    }

    @inline(__always)
    private static func skeletonStart(_ block: UnsafePointer<pgicu_block>, _ index: Int) -> Int {
        Int(UnsafeRawPointer(block).load(fromByteOffset: skeletonStartOffset + index * 2, as: UInt16.self))
    }

    @inline(__always)
    private static func forEach(
        _ block: UnsafePointer<pgicu_block>, _ range: Range<Int>, _ body: (Unicode.Scalar) -> Void
    ) {
        let pool = (UnsafeRawPointer(block) + poolOffset).assumingMemoryBound(to: UInt32.self)
        for i in range {
            // Table entries are scalars ICU produced; a bad one (never seen) is skipped.
            if let scalar = Unicode.Scalar(pool[i]) { body(scalar) }
        }
    }

    /// The fold computed by ICU directly, bypassing the tables (tests compare the two).
    static func computeFold(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        callICU { pgicu_fold_scalar(scalar.value, $0, $1) } ?? [scalar]
    }

    /// The skeleton computed by ICU directly, then folded (skeleton prototypes are not always lower case).
    static func computeSkeleton(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        let skeleton = callICU { pgicu_skeleton_scalar(scalar.value, $0, $1) } ?? [scalar]
        return skeleton.flatMap { s in callICU { pgicu_fold_scalar(s.value, $0, $1) } ?? [s] }
    }

    private static func callICU(_ body: (UnsafeMutablePointer<UInt32>, Int32) -> Int32) -> [Unicode.Scalar]? {
        var buffer = [UInt32](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, 32) }
        guard count >= 0, count <= 32 else { return nil }
        return buffer[0..<Int(count)].compactMap(Unicode.Scalar.init)
    }
}
