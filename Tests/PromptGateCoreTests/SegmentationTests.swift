import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Chinese word segmentation decides Han term hits")
struct SegmentationTests {
    /// A user's own list without any exception must already behave.
    static let userRules = """
        rules:
          - id: user-zh
            category: test
            terms: [色情, 枪支, 暴力]
        """

    @Test(arguments: ["这是色情网站", "非法枪支交易", "色情", "街头暴力"])
    func hits(text: String) throws {
        let rules = try TestSupport.rules(yaml: Self.userRules)
        #expect(!rules.scan(NormalizedText(text), field: .prompt).hits.isEmpty, "\(text)")
    }

    @Test(arguments: ["特色情调", "黑色情绪", "水枪支架"])
    func misses(text: String) throws {
        let rules = try TestSupport.rules(yaml: Self.userRules)
        #expect(rules.scan(NormalizedText(text), field: .prompt).hits.isEmpty, "\(text)")
    }

    @Test func exceptionFixesWhatSegmentationGetsWrong() throws {
        let plain = try TestSupport.rules(yaml: Self.userRules)
        #expect(!plain.scan(NormalizedText("沙尘暴力度"), field: .prompt).hits.isEmpty)  // ICU: 沙尘|暴力|度
        let fixed = try TestSupport.rules(yaml: Self.userRules + "\n    exceptions: ['沙尘暴力度']")
        #expect(fixed.scan(NormalizedText("沙尘暴力度"), field: .prompt).hits.isEmpty)
        #expect(!fixed.scan(NormalizedText("暴力"), field: .prompt).hits.isEmpty)
    }

    @Test func latinTermsNeedWholeTokensInJoinedViews() throws {
        let rules = try TestSupport.rules(
            yaml: """
                rules:
                  - id: t
                    category: test
                    terms: [rape, penis]
                """)
        for text in ["grape fruit", "grape-fruit", "a pen is red", "grapefruit", "drape"] {
            #expect(rules.scan(NormalizedText(text), field: .prompt).hits.isEmpty, "\(text)")
        }
        for text in ["r.a.p.e", "r a p e", "(ra)(pe)", "pe-nis"] {
            #expect(!rules.scan(NormalizedText(text), field: .prompt).hits.isEmpty, "\(text)")
        }
    }
}

@Suite("Mixed Chinese and Latin text")
struct MixedScriptTests {
    @Test(arguments: [
        ("一个porn网站", "en-sexual-explicit"), ("生成一张nude图片", "en-sexual-nudity"),
        ("画一个m.u.r.d.e.r现场", "en-violence-terms"),
        ("一张p0rn海报", "en-sexual-explicit"), ("porn色情", "zh-sexual-explicit"),
    ])
    func latinTermsGluedToChinese(prompt: String, rule: String) {
        let verdict = TestSupport.judge(prompt).verdict
        #expect(verdict.reasons.contains { $0.ruleID == rule }, "\(prompt): \(verdict.reasons.map(\.ruleID))")
    }

    @Test func mixedTermCountsAsHan() throws {
        let rules = try TestSupport.rules(yaml: "rules:\n  - id: t\n    category: x\n    terms: [av女优]\n")
        #expect(!rules.scan(NormalizedText("看av女优的照片"), field: .prompt).hits.isEmpty)
        #expect(!rules.scan(NormalizedText("看ＡＶ女優"), field: .prompt).hits.isEmpty)
    }

    @Test(arguments: ["一只pornographer", "cockpit驾驶舱", "grapefruit果汁"])
    func latinWordsStillNeedWholeWords(prompt: String) throws {
        let rules = try TestSupport.rules(yaml: "rules:\n  - id: t\n    category: x\n    terms: [porn, cock, rape]\n")
        #expect(rules.scan(NormalizedText(prompt), field: .prompt).hits.isEmpty, "\(prompt)")
    }
}
