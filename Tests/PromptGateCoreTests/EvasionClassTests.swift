import CICUWrap
@testable import PromptGateCore
import PromptGateTestSupport
import Testing

/// Classes of disguise, each tested both ways: the disguised term is caught, the look-alike innocent text is not.
@Suite("Evasion classes")
struct EvasionClassTests {
    static let rules: RuleSet = {
        let yaml = """
            rules:
              - id: small
                category: test
                action: block
                terms: [kill, porn, nude, naked, murder, gore, bloodbath, rape, sex, penis]
            """
        do { return try TestSupport.rules(yaml: yaml) } catch { fatalError("\(error)") }
    }()

    static func caught(_ text: String) -> Bool { !rules.scan(NormalizedText(text), field: .prompt).hits.isEmpty }

    // MARK: Confusables

    /// Every scalar whose TR39 prototype is one ASCII letter or digit ends up, in the skeleton view, as exactly
    /// what that letter or digit becomes (leetspeak included), whichever order the two maps would run in.
    @Test func everyLookAlikeBecomesTheLetterItImitates() {
        var mismatches: [String] = []
        var checked = 0
        // Latin, Greek, Cyrillic, Armenian, Cherokee, symbols, Roman numerals, Coptic, Latin extensions, full
        // width and mathematical letters: where the look-alikes of Latin letters live.
        let ranges: [Range<UInt32>] = [
            0x80..<0x3000, 0xA640..<0xA800, 0xAB30..<0xABC0, 0xFF00..<0xFFF0, 0x10280..<0x10500, 0x118A0..<0x11900,
            0x1D400..<0x1D800,
        ]
        for value in ranges.joined() {
            guard let scalar = Unicode.Scalar(value) else { continue }
            var prototype = [UInt32](repeating: 0, count: 8)
            let count = prototype.withUnsafeMutableBufferPointer { pgicu_skeleton_scalar(value, $0.baseAddress, 8) }
            guard count == 1, let ascii = Unicode.Scalar(prototype[0]), ascii.isASCII,
                ascii.properties.isAlphabetic || ("0"..."9").contains(ascii)
            else { continue }
            // Accented look-alikes keep their accent by design (see the accent tests); marks are not letters.
            guard !ScalarTables.shared.isMark(scalar) else { continue }
            checked += 1
            let mine = NormalizedText("a\(scalar)b").text(of: .skeleton)
            let letter = NormalizedText("a\(ascii)b").text(of: .skeleton)
            if mine != letter {
                mismatches.append("U+\(String(value, radix: 16, uppercase: true)) \(mine ?? "") vs \(letter ?? "")")
            }
        }
        #expect(checked > 400)
        #expect(mismatches.isEmpty, "\(mismatches.count): \(mismatches.prefix(20))")
    }

    @Test(arguments: [
        "k\u{0456}ll",  // Cyrillic і
        "k\u{0131}ll",  // dotless ı
        "k\u{FF49}ll",  // full-width i
        "k\u{1D422}ll",  // mathematical bold i
        "k\u{2170}ll",  // small Roman numeral one
        "\u{0440}\u{043E}rn",  // Cyrillic р and о
        "n\u{03C5}d\u{0435}",  // Greek υ, Cyrillic е
        "\u{0455}\u{0435}\u{0445}",  // all Cyrillic
        "the \u{043C}u\u{0433}\u{0501}er",  // Cyrillic м, г, ԁ
        "a \u{03BA}\u{0456}|l",  // Greek κ, Cyrillic і, a bar
        "\u{044C}lo\u{043E}\u{0501}b@\u{0442}#",  // Cyrillic ь, о, ԁ, т, and symbols
        "\u{1D0B}\u{026A}\u{029F}\u{029F}",  // small capitals
    ])
    func confusablesAreCaught(text: String) {
        #expect(Self.caught(text))
    }

    // MARK: Leetspeak

    @Test(arguments: [
        ("|<ill them", true), (#"|\/|urder"#, true), ("p()rn star", true), (#"n/\ked"#, true), ("bl00dbath", true),
        ("nud€", true), ("g0r€", true), ("$3x", true), ("p0rn", true), ("k!ll", true), ("|<|ll", true),
        ("a () b", false), ("1/2 cup", false), ("price $5", false), ("c++ code", false), ("#1 fan", false),
        ("wow! great", false), ("(masterpiece:1.2)", false), ("[vivid colors]", false), (#"a\/b"#, false),
    ])
    func leetspeakIsCaughtWhereATermCouldHide(text: String, expected: Bool) {
        #expect(Self.caught(text) == expected)
    }

    // MARK: Stretched letters

    @Test(arguments: [
        ("kiiilll", true), ("kkkiiillll", true), ("pooorrrnnn", true), ("nuuuude", true), ("muuurrrdeeer", true),
        ("ppoorrnn", true), ("goooore", true), ("k i i i l l", true),
        ("kil", false), ("kl", false), ("KI", false), ("skill", false), ("killer app", false), ("nudes", false),
        ("goo", false), ("por", false),
    ])
    func stretchedLettersAnywhere(text: String, expected: Bool) {
        #expect(Self.caught(text) == expected)
    }

    // MARK: Accents and stacked marks

    /// Real words of other Latin-script languages that are terms once their accents go.
    @Test(arguments: [
        "du fromage râpé",  // French: grated
        "une carotte râpée",
        "rapé en polvo",  // Spanish: snuff
        "die freche Göre",  // German: brat
        "bệnh cúm mùa",  // Vietnamese: seasonal flu
        "séx",
    ])
    func accentedWordsAreNotTerms(text: String) {
        #expect(!Self.caught(text))
    }

    @Test(arguments: [
        "m\u{0334}u\u{0337}r\u{0338}d\u{0335}e\u{0336}r\u{0337}",  // one overlay per letter
        "k\u{0338}\u{0322}i\u{0335}\u{031B}l\u{0336}l\u{0337}",  // stacked marks
        "p\u{0337}\u{0328}ó\u{0335}r\u{0336}n\u{0338}",  // an accent inside a Zalgo word goes with the rest
        "n\u{0489}u\u{0489}d\u{0489}e",  // enclosing marks
        "ki\u{0300}\u{0301}\u{0302}ll",
    ])
    func stackedMarksAreRemoved(text: String) {
        #expect(Self.caught(text))
    }

    /// A hit on a disguised word spans the whole disguise in the original text, marks and symbols included.
    @Test(arguments: [
        (#"a |\/|urder b"#, #"|\/|urder"#), ("x |<ill y", "|<ill"),
        (
            "a k\u{0338}i\u{0338}l\u{0338}l\u{0338} b",
            "k\u{0338}i\u{0338}l\u{0338}l\u{0338}"
        ), ("the kiiilll end", "kiiilll"),
    ])
    func spansCoverTheDisguise(text: String, matched: String) throws {
        let hit = try #require(Self.rules.scan(NormalizedText(text), field: .prompt).hits.first)
        #expect(hit.matched == matched)
    }
}
