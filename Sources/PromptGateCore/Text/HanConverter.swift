import CICUWrap

/// Traditional → Simplified Chinese, exactly as ICU's `Traditional-Simplified` transliterator, but immutable,
/// thread-safe and about 30× faster.
///
/// ICU's rules are plain `lhs > rhs;` pairs; at each position the first rule (in rule order) whose left side
/// matches wins. Every rule keeps the scalar count, so output scalar *i* comes from input scalar *i*, which is
/// what lets the `hans` view share the offset map of the view it converts.
final class HanConverter: Sendable {
    /// Built from the system ICU's rules at first use (about 25 ms, most of it ICU opening the transliterator;
    /// the buffer is sized so that it is opened once).
    static let shared: HanConverter = {
        var capacity: Int32 = 1 << 20
        while true {
            var buffer = [UInt8](repeating: 0, count: Int(capacity))
            let needed = buffer.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { pgicu_t2s_rules($0.baseAddress, capacity) }
            }
            guard needed > capacity else {
                return HanConverter(rules: needed > 0 ? String(decoding: buffer[0..<Int(needed)], as: UTF8.self) : "")
            }
            capacity = needed
        }
    }()

    private struct Rule: Sendable {
        let source: [Unicode.Scalar]
        let target: [Unicode.Scalar]
    }

    /// The rules grouped by first scalar, each group in ICU's order.
    private let rules: [Rule]
    /// For first scalars in the CJK Unified Ideographs block (U+4E00–U+9FFF, where nearly all are): the
    /// group's start in `rules` shifted left 8, or-ed with its size (0: no rule). An array lookup, since a
    /// hash per scalar was the largest cost of the `hans` view.
    private let ideographs: [UInt32]
    /// Groups for every other first scalar: start and size.
    private let others: [UInt32: (start: Int, count: Int)]
    /// The smallest key of `others`: ASCII and other text below it skips the hash.
    private let othersFloor: UInt32
    /// Number of rules understood; zero means ICU gave us nothing usable and conversion is the identity.
    let ruleCount: Int

    private static let ideographRange: ClosedRange<UInt32> = 0x4E00...0x9FFF

    /// Parses ICU's rule text (`lhs > rhs;` lines) byte by byte: at start-up this ran on every `promptgate`
    /// start that saw Chinese, and splitting it as Swift strings took 60 ms.
    init(rules text: String) {
        var parsed: [Rule] = []
        var text = text
        text.withUTF8 { bytes in
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != 0x0A, bytes[lineEnd] != 0x0D { lineEnd += 1 }
                if let rule = Self.parse(UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])) {
                    parsed.append(rule)
                }
                lineStart = lineEnd + 1
            }
        }
        // Group by first scalar, keeping ICU's order inside a group (the first matching rule wins).
        var order = Array(parsed.indices)
        order.sort { (parsed[$0].source[0].value, $0) < (parsed[$1].source[0].value, $1) }
        let grouped = order.map { parsed[$0] }
        var ideographs = [UInt32](repeating: 0, count: Self.ideographRange.count)
        var others: [UInt32: (start: Int, count: Int)] = [:]
        var start = 0
        while start < grouped.count {
            let first = grouped[start].source[0].value
            var end = start + 1
            while end < grouped.count, grouped[end].source[0].value == first { end += 1 }
            if Self.ideographRange.contains(first), end - start < 256 {
                ideographs[Int(first - Self.ideographRange.lowerBound)] = UInt32(start) << 8 | UInt32(end - start)
            } else {
                others[first] = (start, end - start)
            }
            start = end
        }
        self.rules = grouped
        self.ideographs = ideographs
        self.others = others
        othersFloor = others.keys.min() ?? .max
        ruleCount = grouped.count
    }

    /// One `lhs > rhs;` line. Only the plain form is modelled; a rule with syntax or a count change would
    /// break the offset map, so it is left out.
    private static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Rule? {
        var start = 0, end = line.count
        while start < end, line[start] == 0x20 { start += 1 }
        if end > start, line[end - 1] == UInt8(ascii: ";") { end -= 1 }
        var arrow: Int? = nil
        var index = start
        while index + 2 < end {
            if line[index] == 0x20, line[index + 1] == UInt8(ascii: ">"), line[index + 2] == 0x20 {
                arrow = index
                break
            }
            index += 1
        }
        guard let arrow else { return nil }
        let syntax = Array("{}|$[]:&'\\".utf8)
        for position in start..<end where position < arrow || position >= arrow + 3 {
            if syntax.contains(line[position]) { return nil }
        }
        let source = Array(
            String(decoding: UnsafeBufferPointer(rebasing: line[start..<arrow]), as: UTF8.self).unicodeScalars)
        let target = Array(
            String(decoding: UnsafeBufferPointer(rebasing: line[(arrow + 3)..<end]), as: UTF8.self).unicodeScalars)
        guard !source.isEmpty, source.count == target.count else { return nil }
        return Rule(source: source, target: target)
    }

    @inline(__always)
    private func group(_ first: Unicode.Scalar) -> Range<Int>? {
        let value = first.value
        if Self.ideographRange.contains(value) {
            let packed = ideographs[Int(value - Self.ideographRange.lowerBound)]
            guard packed != 0 else { return nil }
            return Int(packed >> 8)..<Int(packed >> 8) + Int(packed & 0xFF)
        }
        guard value >= othersFloor, let found = others[value] else { return nil }
        return found.start..<found.start + found.count
    }

    /// Converts `scalars` in place (the count never changes). Returns whether anything changed.
    @discardableResult
    func convert(_ scalars: inout [Unicode.Scalar]) -> Bool {
        var changed = false
        var i = 0
        let n = scalars.count
        while i < n {
            guard let candidates = group(scalars[i]) else {
                i += 1
                continue
            }
            var advanced = false
            for rule in rules[candidates] where rule.source.count <= n - i {
                var matches = true
                for k in 1..<rule.source.count where scalars[i + k] != rule.source[k] {
                    matches = false
                    break
                }
                guard matches else { continue }
                for k in 0..<rule.target.count where scalars[i + k] != rule.target[k] {
                    scalars[i + k] = rule.target[k]
                    changed = true
                }
                i += rule.source.count
                advanced = true
                break
            }
            if !advanced { i += 1 }
        }
        return changed
    }

    /// ICU's own (slow, utrans) conversion, to check this table against.
    static func referenceConvert(_ text: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: text.utf8.count * 4 + 16)
        let capacity = Int32(buffer.count)
        let length = text.withCString { source in
            buffer.withUnsafeMutableBufferPointer { out in
                out.withMemoryRebound(to: CChar.self) {
                    pgicu_t2s_utf8(source, Int32(text.utf8.count), $0.baseAddress, capacity)
                }
            }
        }
        guard length >= 0, length <= capacity else { return nil }
        return String(decoding: buffer[0..<Int(length)], as: UTF8.self)
    }

    /// Converts a string (used for rule terms and tests).
    func convert(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        convert(&scalars)
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        return result
    }
}
