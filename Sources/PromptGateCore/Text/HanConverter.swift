import CICUWrap

/// Traditional → Simplified Chinese, exactly as ICU's `Traditional-Simplified` transliterator, but immutable,
/// thread-safe and about 30× faster.
///
/// ICU's rules are plain `lhs > rhs;` pairs; at each position the first rule (in rule order) whose left side
/// matches wins. Every rule keeps the scalar count, so output scalar *i* comes from input scalar *i*, which is
/// what lets the `hans` view share the offset map of the view it converts.
final class HanConverter: Sendable {
    /// Built from the system ICU's rules at first use (about 15 ms).
    static let shared: HanConverter = {
        let needed = pgicu_t2s_rules(nil, 0)
        var rules = ""
        if needed > 0 {
            var buffer = [UInt8](repeating: 0, count: Int(needed))
            let written = buffer.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { pgicu_t2s_rules($0.baseAddress, needed) }
            }
            if written == needed { rules = String(decoding: buffer, as: UTF8.self) }
        }
        return HanConverter(rules: rules)
    }()

    private struct Rule: Sendable {
        let source: [Unicode.Scalar]
        let target: [Unicode.Scalar]
    }

    /// Rules by their first scalar, in ICU's order.
    private let rulesByFirst: [Unicode.Scalar: [Rule]]
    /// Number of rules understood; zero means ICU gave us nothing usable and conversion is the identity.
    let ruleCount: Int

    init(rules: String) {
        var byFirst: [Unicode.Scalar: [Rule]] = [:]
        var count = 0
        for line in rules.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var text = Substring(line).trimmingPrefix(while: { $0 == " " })
            if text.hasSuffix(";") { text = text.dropLast() }
            let parts = text.split(separator: " > ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let source = Array(parts[0].unicodeScalars), target = Array(parts[1].unicodeScalars)
            // Only the plain form is modelled; a rule with syntax or a count change would break the offset map.
            guard let first = source.first, source.count == target.count,
                !source.contains(where: { "{}|$[]:&'\\".unicodeScalars.contains($0) })
            else { continue }
            byFirst[first, default: []].append(Rule(source: source, target: target))
            count += 1
        }
        rulesByFirst = byFirst
        ruleCount = count
    }

    /// Converts `scalars` in place (the count never changes). Returns whether anything changed.
    @discardableResult
    func convert(_ scalars: inout [Unicode.Scalar]) -> Bool {
        var changed = false
        var i = 0
        let n = scalars.count
        while i < n {
            guard let candidates = rulesByFirst[scalars[i]] else {
                i += 1
                continue
            }
            var advanced = false
            for rule in candidates where rule.source.count <= n - i {
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
