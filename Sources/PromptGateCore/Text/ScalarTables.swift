import CICUWrap

/// How the joined and skeleton views treat a scalar.
enum ScalarClass: UInt8 {
    case other = 0, letter, digit, han, space, separator

    /// Letters and Han characters are what separators may be removed between.
    var isJoinable: Bool { self == .letter || self == .han }
    /// Separators and spaces are dropped between joinable characters.
    var isSeparator: Bool { self == .space || self == .separator }
}

/// Per-scalar mappings computed with ICU once, then shared read-only by every thread.
///
/// The Basic Multilingual Plane is tabulated at first use (about 65k ICU calls); supplementary scalars
/// (mathematical alphanumerics, emoji, tag characters) are rare in prompts and computed on demand.
/// Folding scalar by scalar is exact for matching because combining marks are dropped afterwards anyway,
/// so the cross-scalar composition whole-string NFKC would do cannot change the result.
///
/// A struct over buffers that live as long as the process: reading it from many threads touches no
/// reference count (a shared class instance made both cores fight over its counter on every call).
struct ScalarTables: @unchecked Sendable {
    // Safe: the buffers are written once in `init` (run once, for `shared`) and only read afterwards.
    static let shared = ScalarTables()

    private let foldStart: UnsafeBufferPointer<UInt32>
    private let foldPool: UnsafeBufferPointer<Unicode.Scalar>
    private let skeletonStart: UnsafeBufferPointer<UInt32>
    private let skeletonPool: UnsafeBufferPointer<Unicode.Scalar>
    private let classes: UnsafeBufferPointer<UInt8>

    /// Copies `array` into a buffer that is never freed (the tables live as long as the process).
    private static func permanent<T>(_ array: [T]) -> UnsafeBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: array.count)
        _ = buffer.initialize(from: array)
        return UnsafeBufferPointer(buffer)
    }

    private init() {
        var foldStart = [UInt32](), foldPool = [Unicode.Scalar]()
        var skeletonStart = [UInt32](), skeletonPool = [Unicode.Scalar]()
        var classes = [UInt8](repeating: 0, count: 0x10000)
        foldStart.reserveCapacity(0x10001)
        skeletonStart.reserveCapacity(0x10001)
        foldPool.reserveCapacity(0x11000)
        skeletonPool.reserveCapacity(0x11000)
        for value in 0..<UInt32(0x10000) {
            foldStart.append(UInt32(foldPool.count))
            skeletonStart.append(UInt32(skeletonPool.count))
            guard let scalar = Unicode.Scalar(value) else { continue }  // surrogates map to nothing
            foldPool.append(contentsOf: Self.computeFold(scalar))
            skeletonPool.append(contentsOf: Self.computeSkeleton(scalar))
            classes[Int(value)] = UInt8(pgicu_scalar_class(value))
        }
        foldStart.append(UInt32(foldPool.count))
        skeletonStart.append(UInt32(skeletonPool.count))
        self.foldStart = Self.permanent(foldStart)
        self.foldPool = Self.permanent(foldPool)
        self.skeletonStart = Self.permanent(skeletonStart)
        self.skeletonPool = Self.permanent(skeletonPool)
        self.classes = Self.permanent(classes)
    }

    /// Calls `body` with each scalar of the matching fold of `scalar` (NFKC_Casefold, marks removed).
    @inline(__always)
    func forEachFolded(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        let value = Int(scalar.value)
        if value < 0x10000 {
            for i in Int(foldStart[value])..<Int(foldStart[value + 1]) { body(foldPool[i]) }
        } else {
            for s in Self.computeFold(scalar) { body(s) }
        }
    }

    /// Calls `body` with each scalar of the case-folded confusable skeleton of `scalar`.
    @inline(__always)
    func forEachSkeleton(_ scalar: Unicode.Scalar, _ body: (Unicode.Scalar) -> Void) {
        let value = Int(scalar.value)
        if value < 0x10000 {
            for i in Int(skeletonStart[value])..<Int(skeletonStart[value + 1]) { body(skeletonPool[i]) }
        } else {
            for s in Self.computeSkeleton(scalar) { body(s) }
        }
    }

    @inline(__always)
    func scalarClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        let value = scalar.value
        if value < 0x10000 { return ScalarClass(rawValue: classes[Int(value)]) ?? .other }
        return ScalarClass(rawValue: UInt8(truncatingIfNeeded: pgicu_scalar_class(value))) ?? .other
    }

    private static func computeFold(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        callICU { pgicu_fold_scalar(scalar.value, $0, $1) } ?? [scalar]
    }

    /// Skeleton prototypes are not always lower case (`0` becomes `O`), so the skeleton is folded again.
    private static func computeSkeleton(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
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
