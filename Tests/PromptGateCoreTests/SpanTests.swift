import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Spans point into the original text")
struct SpanTests {
    func reason(_ prompt: String, rule: String) -> Reason? {
        TestSupport.judge(prompt).verdict.reasons.first { $0.ruleID == rule }
    }

    @Test func plainASCII() throws {
        let r = try #require(reason("a murder scene", rule: "en-violence-terms"))
        #expect(r.span == Span(scalars: 2..<8, utf8: 2..<8))
        #expect(r.matched == "murder")
        #expect(r.field == .prompt)
        #expect(r.stage == "blocklist")
        #expect(r.category == "violence")
        #expect(r.severity == .high)
    }

    @Test func fullWidthWithSeparators() throws {
        // "é " is 2 scalars / 3 bytes; each full-width letter is 3 bytes.
        let r = try #require(reason("é ｍ.ｕ.ｒ.ｄ.ｅ.ｒ!", rule: "en-violence-terms"))
        #expect(r.matched == "ｍ.ｕ.ｒ.ｄ.ｅ.ｒ")
        #expect(r.span == Span(scalars: 2..<13, utf8: 3..<26))
        #expect(r.view == .joined)
        #expect(r.normalized == "murder")
    }

    @Test func zeroWidthInsideIsCovered() throws {
        let r = try #require(reason("😀 mur\u{200B}der", rule: "en-violence-terms"))
        #expect(r.matched == "mur\u{200B}der")
        #expect(r.span == Span(scalars: 2..<9, utf8: 5..<14))  // 😀 is 4 bytes, U+200B 3
    }

    @Test func chineseOffsets() throws {
        let r = try #require(reason("这是色情网站", rule: "zh-sexual-explicit"))
        #expect(r.span == Span(scalars: 2..<4, utf8: 6..<12))
        #expect(r.matched == "色情")
    }

    @Test func traditionalViaHans() throws {
        let r = try #require(reason("看屠*殺", rule: "zh-violence-terms"))
        #expect(r.view == .hans)
        #expect(r.matched == "屠*殺")
        #expect(r.normalized == "屠杀")
        #expect(r.span == Span(scalars: 1..<4, utf8: 3..<10))
    }

    @Test func ligatureExpansionMapsToWholeScalar() throws {
        let rules = try TestSupport.rules(yaml: "rules:\n  - id: t\n    category: x\n    terms: [file]\n")
        let hit = try #require(rules.scan(NormalizedText("a ﬁle"), field: .prompt).hits.first)
        #expect(hit.scalars == 2..<5)
        #expect(hit.bytes == 2..<7)
        #expect(hit.matched == "ﬁle")
    }

    @Test func everyHitIsReported() {
        let verdict = TestSupport.judge("blood and more blood, gore")
        let spans = verdict.verdict.reasons.compactMap { $0.span?.scalars.start }
        #expect(spans == [0, 15, 22])
    }

    @Test func negativePromptIsNotCheckedByDefault() {
        let context = TestSupport.judge("a cat", negativePrompt: "nsfw, nude, gore")
        #expect(context.verdict.decision == .allow)
    }

    @Test func ruleCanOptIntoNegativePrompt() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: t\n    category: x\n    terms: [secret]\n    fields: [prompt, negative_prompt]\n")
        let pipeline = Pipeline(stages: [BlocklistFilter(rules: rules)])
        let context = TestSupport.judge("a cat", negativePrompt: "the secret", pipeline: pipeline)
        let r = try #require(context.verdict.reasons.first)
        #expect(r.field == .negativePrompt)
        #expect(r.span == Span(scalars: 4..<10, utf8: 4..<10))
    }
}
