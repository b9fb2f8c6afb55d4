import PromptGateBench
import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Properties over generated text")
struct PropertyTests {
    /// Scalars chosen to stress the views: letters, separators, invisibles, marks, full-width, Han
    /// (simplified, traditional, compatibility), Cyrillic and Greek look-alikes, emoji, leet digits.
    static let pool: [Unicode.Scalar] =
        Array(
            "abcdefgiklmnoprstuvxyz MURDER PORN 0134579@$!|.-_*()[]{}:|,，。　屠杀殺色情血腥枪支暴力特调水架沙尘度这是网站"
                .unicodeScalars)
        + [
            "\u{200B}", "\u{200D}", "\u{00AD}", "\u{FEFF}", "\u{2060}", "\u{E0041}", "\u{FE0F}", "\u{202E}", "\u{0301}",
            "\u{0336}", "\u{0489}", "\u{FF4D}", "\u{FF55}", "\u{0440}", "\u{043E}", "\u{0435}", "\u{03BF}", "\u{1F600}",
            "\u{FA06}", "\u{2F8A}", "\u{F912}", "\u{FB01}", "\u{2460}", "\u{3099}", "\u{1D41A}",
        ]

    /// A random text of up to `maxLength` scalars from `pool`.
    static func randomText(_ rng: inout SeededGenerator, maxLength: UInt64) -> String {
        var text = ""
        for _ in 0..<Int(rng.next() % maxLength) {
            text.unicodeScalars.append(pool[Int(rng.next() % UInt64(pool.count))])
        }
        return text
    }

    @Test func spansAlwaysPointIntoTheOriginal() {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<3000 {
            let text = Self.randomText(&rng, maxLength: 40)
            let context = TestSupport.judge(text)
            let scalars = Array(text.unicodeScalars)
            let bytes = Array(text.utf8)
            for reason in context.verdict.reasons {
                guard let span = reason.span else { continue }
                #expect(span.scalars.start < span.scalars.end && span.scalars.end <= scalars.count, "\(text)")
                #expect(span.utf8.start < span.utf8.end && span.utf8.end <= bytes.count, "\(text)")
                guard span.scalars.end <= scalars.count, span.utf8.end <= bytes.count else { continue }
                var fromScalars = ""
                fromScalars.unicodeScalars.append(contentsOf: scalars[span.scalars.start..<span.scalars.end])
                let fromBytes = String(decoding: bytes[span.utf8.start..<span.utf8.end], as: UTF8.self)
                #expect(reason.matched == fromScalars && fromScalars == fromBytes, "\(text)")
            }
        }
    }

    @Test func everyViewIsValidAndStable() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let text = Self.randomText(&rng, maxLength: 30)
            let normalized = NormalizedText(text)
            for view in ViewKind.allCases {
                guard let once = normalized.text(of: view) else { continue }
                #expect(NormalizedText(text).text(of: view) == once)  // deterministic
            }
            // Folding is idempotent: the folded text folds to itself.
            if let folded = normalized.text(of: .folded) {
                #expect(NormalizedText(folded).text(of: .folded) == folded, "\(text)")
            }
        }
    }
}
