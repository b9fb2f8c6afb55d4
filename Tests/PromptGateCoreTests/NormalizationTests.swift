import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Normalized views")
struct NormalizationTests {
    @Test(arguments: [
        // (input, view, expected text)
        ("MuRdEr", ViewKind.folded, "murder"),
        ("ＭＵＲＤＥＲ", .folded, "murder"),
        ("mur\u{200B}d\u{200D}er\u{FEFF}", .folded, "murder"),
        ("mur\u{00AD}der\u{2060}", .folded, "murder"),
        ("m\u{E0075}urder", .folded, "murder"),  // tag character
        ("mu\u{FE0F}rder", .folded, "murder"),  // variation selector
        ("\u{202E}murder\u{202C}", .folded, "murder"),  // bidi controls
        ("mu\u{0301}r\u{0336}d\u{0489}er", .folded, "murder"),  // marks that do not compose: the word's accents go
        ("m\u{0334}u\u{0337}r\u{0338}d\u{0335}e\u{0336}r", .folded, "murder"),  // one overlay per letter
        ("ki\u{0300}\u{0301}\u{0302}ll", .folded, "kill"),  // stacked marks
        ("café", .folded, "café"),  // accents are letters of their own
        ("cafe\u{0301}", .folded, "café"),  // typed decomposed: the same letter
        ("râpé", .skeleton, "râpé"),
        ("Straße", .folded, "strasse"),
        ("m.u.r.d.e.r", .joined, "murder"),
        ("k-i-l-l", .joined, "kill"),
        ("k i l l", .joined, "kill"),
        ("k_i*l+l", .joined, "kill"),
        ("(mur)(der)", .joined, "(murder)"),
        ("[mur]:[der]", .joined, "[murder]"),
        ("a pen is here", .joined, "a pen is here"),  // whitespace joins only single letters
        ("p0rn", .skeleton, "porn"),
        ("k1ll", .skeleton, "klll"),
        ("kill", .skeleton, "klll"),
        ("ki11", .skeleton, "klll"),
        ("fuuuuck", .skeleton, "fuuuuck"),  // stretched letters stay; skeleton patterns allow repeats
        ("kіll", .skeleton, "klll"),  // Cyrillic і is Latin i
        ("kıll", .skeleton, "klll"),  // dotless ı too
        ("|<ill", .skeleton, "klll"),
        ("|\\/|urder", .skeleton, "rnurder"),  // TR39 writes m as rn
        ("p()rn", .skeleton, "porn"),
        ("n/\\ked", .skeleton, "naked"),
        ("bl00dbath", .skeleton, "bloodbath"),
        ("nud€", .skeleton, "nude"),
        ("p@ss", .skeleton, "pass"),
        ("wow! great", .skeleton, "wow! great"),  // ! ends a sentence
        ("k!ll", .skeleton, "klll"),
        ("(masterpiece:1.2)", .skeleton, "(rnasterplecel.2)"),  // no multi-character look-alike
        ("р0гn", .skeleton, "porn"),  // Cyrillic р and г plus a zero
        ("ѕех", .skeleton, "sex"),  // all Cyrillic
        ("nudе", .skeleton, "nude"),  // one Cyrillic е
        ("νude", .skeleton, "vude"),  // Greek nu looks like v
        ("$3x", .skeleton, "sex"),
        ("屠*杀", .joined, "屠杀"),
        ("屠 杀", .joined, "屠杀"),
        ("屠\u{3000}杀", .joined, "屠杀"),
        ("屠，杀", .joined, "屠杀"),
        ("屠殺", .hans, "屠杀"),
        ("屠*殺", .hans, "屠杀"),
        ("\u{FA06}\u{F98A}", .folded, "暴力"),  // CJK compatibility ideographs → unified
        ("\u{2F08}", .folded, "人"),  // Kangxi radical → unified ideograph
    ])
    func viewText(input: String, view: ViewKind, expected: String) {
        #expect(NormalizedText(input).text(of: view) == expected)
    }

    @Test func hansIsOnlyBuiltForHanText() {
        #expect(NormalizedText("plain latin").text(of: .hans) == nil)
        #expect(NormalizedText("漢字").text(of: .hans) == "汉字")
    }

    @Test func emptyText() {
        let text = NormalizedText("")
        for view in [ViewKind.raw, .folded, .joined, .skeleton] { #expect(text.text(of: view) == "") }
        #expect(TestSupport.judge("").verdict.decision == .block)  // too short
    }
}

@Suite("Evasion tricks are blocked")
struct EvasionTests {
    @Test(arguments: [
        ("MURDER in the street", "en-violence-terms"),
        ("mUrDeR scene", "en-violence-terms"),
        ("ＭＵＲＤＥＲ poster", "en-violence-terms"),
        ("mur\u{200B}der scene", "en-violence-terms"),
        ("mur\u{00AD}der scene", "en-violence-terms"),
        ("m\u{E0075}\u{E0072}urder", "en-violence-terms"),
        ("m.u.r.d.e.r", "en-violence-terms"),
        ("k-i-l-l them", "en-violence-terms"),
        ("k i l l them", "en-violence-terms"),
        ("k1ll them", "en-violence-terms"),
        ("ki11 them", "en-violence-terms"),
        ("k!ll them", "en-violence-terms"),
        ("p 0 r n", "en-sexual-explicit"),
        ("a p0rn site", "en-sexual-explicit"),
        ("n4ked woman", "en-sexual-nudity"),
        ("pooorrrn", "en-sexual-explicit"),
        ("nuuuude beach", "en-sexual-nudity"),
        ("рorn", "en-sexual-explicit"),  // one Cyrillic letter
        ("рогn", "en-sexual-explicit"),  // several
        ("nυdе", "en-sexual-nudity"),  // Greek upsilon, Cyrillic е
        ("mu\u{0301}\u{0302}rder", "en-violence-terms"),
        ("(mur)(der) alley", "en-violence-terms"),
        ("[vio|lence]", "en-violence-terms"),
        ("(murder:1.3), dark", "en-violence-terms"),
        ("((violence)), city", "en-violence-terms"),
        ("屠*杀现场", "zh-violence-terms"),
        ("屠 杀", "zh-violence-terms"),
        ("屠　杀", "zh-violence-terms"),
        ("屠，杀", "zh-violence-terms"),
        ("色*情图片", "zh-sexual-explicit"),
        ("大屠殺", "zh-violence-terms"),
        ("血腥場面", "zh-gore-terms"),
        ("\u{2F8E}腥", "zh-gore-terms"),  // Kangxi radical BLOOD
        ("\u{F912}体", "zh-sexual-nudity"),  // CJK compatibility ideograph
        ("\u{2F8A}情网站", "zh-sexual-explicit"),  // Kangxi radical COLOUR
        ("\u{FA06}\u{2F12}", "zh-violence-terms"),  // compatibility + Kangxi
    ])
    func blocked(prompt: String, rule: String) {
        let verdict = TestSupport.judge(prompt).verdict
        #expect(verdict.decision == .block, "\(prompt)")
        #expect(verdict.reasons.contains { $0.ruleID == rule }, "\(prompt): \(verdict.reasons.map(\.ruleID))")
    }
}

@Suite("False positives stay allowed")
struct FalsePositiveTests {
    @Test(arguments: [
        "cockpit", "grapefruit", "Penistone", "shuttlecock", "nudge", "血压计", "特色情调", "blood orange",
        "bloody mary", "Essex", "Middlesex", "Scunthorpe", "assassin's creed", "cocktail", "Dickens", "Sussex",
        "therapist", "grape", "analysis", "Shih Tzu", "great tit", "pegboard", "黑色情绪", "水枪支架", "沙尘暴力度",
        "a pen is on the table", "grape fruit salad", "the rapeseed fields", "classic glasses", "skill tree",
        "a killer whale", "blood pressure monitor", "路口交通", "三黄片", "the Niger river", "a k-pop idol in 4k",
        "an x-ray of a hand", "a hot glue gun", "spicy ramen", "a chink in the armor", "Al Gore",
        "KL skyline at night", "KI generiertes Bild", "an ill cat", "a kiln in a pottery studio",
    ])
    func allowed(prompt: String) {
        let verdict = TestSupport.judge(prompt).verdict
        #expect(
            verdict.decision != .block,
            "\(prompt): \(verdict.reasons.map { "\($0.ruleID) \($0.view?.rawValue ?? "") \($0.matched ?? "")" })")
    }
}

@Suite("Rules see exactly the views they name")
struct ViewSelectionTests {
    @Test(arguments: [ViewKind.raw, .folded, .joined, .skeleton])
    func singleViewRuleStillMatchesWhenViewsAreIdentical(view: ViewKind) throws {
        // For "an apple" raw, folded and joined are the same text; a rule on one view must still run.
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: t\n    category: x\n    terms: [apple]\n    views: [\(view.rawValue)]\n")
        let hits = rules.scan(NormalizedText("an apple"), field: .prompt).hits
        #expect(hits.map(\.view) == [view])
    }

    @Test func viewsNotNamedAreNotUsed() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: t\n    category: x\n    terms: [apple]\n    views: [raw]\n")
        #expect(rules.scan(NormalizedText("a.p.p.l.e"), field: .prompt).hits.isEmpty)
        #expect(rules.scan(NormalizedText("APPLE"), field: .prompt).hits.count == 1)  // raw is caseless
    }

    @Test func patternRuleOnSeveralViews() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: p\n    category: x\n    pattern: 'ap+le'\n    views: [folded, joined]\n")
        #expect(rules.scan(NormalizedText("an apple"), field: .prompt).hits.count == 1)
        let hit = try #require(rules.scan(NormalizedText("a-p-p-l-e"), field: .prompt).hits.first)
        #expect(hit.view == .joined)
        #expect(hit.matched == "a-p-p-l-e")
    }
}
