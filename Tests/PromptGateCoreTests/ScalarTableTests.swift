import CICUWrap
@testable import PromptGateCore
import Testing

/// The lazily computed blocks hold exactly what ICU computes for each scalar.
@Suite("Scalar tables")
struct ScalarTableTests {
    /// Every scalar of the blocks prompts use most, and a sample across all planes.
    static let samples: [UInt32] =
        Array(0..<0x600) + Array(stride(from: 0x600, to: 0x11_0000, by: 97)) + Array(0x4E00..<0x4F00)
        + Array(0xFF00..<0x10000) + Array(0x1D400..<0x1D500)

    @Test func blocksAgreeWithICU() {
        let tables = ScalarTables.shared
        var mismatches: [String] = []
        for value in Self.samples {
            guard let scalar = Unicode.Scalar(value) else { continue }
            var folded: [Unicode.Scalar] = []
            tables.forEachFolded(scalar) { folded.append($0) }
            var stripped: [Unicode.Scalar] = []
            tables.forEachStripped(scalar) { stripped.append($0) }
            var skeleton: [Unicode.Scalar] = []
            tables.forEachSkeleton(scalar) { skeleton.append($0) }
            if folded != ScalarTables.computeFolded(scalar) { mismatches.append("fold U+\(String(value, radix: 16))") }
            if stripped != ScalarTables.computeStripped(scalar) {
                mismatches.append("strip U+\(String(value, radix: 16))")
            }
            if skeleton != ScalarTables.computeSkeleton(scalar) {
                mismatches.append("skeleton U+\(String(value, radix: 16))")
            }
            let direct = ScalarClass(rawValue: UInt8(truncatingIfNeeded: pgicu_scalar_class(value))) ?? .other
            if tables.scalarClass(scalar) != direct { mismatches.append("class U+\(String(value, radix: 16))") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    /// Threads racing for the same new blocks all see complete, identical tables.
    @Test func concurrentFirstUseIsSafe() async {
        let values = Array(stride(from: UInt32(0xA000), to: 0xA800, by: 1))
        let results = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    values.map { value in
                        var count = 0
                        ScalarTables.shared.forEachSkeleton(Unicode.Scalar(value)!) { _ in count += 1 }
                        return count
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results).count == 1)
    }
}
