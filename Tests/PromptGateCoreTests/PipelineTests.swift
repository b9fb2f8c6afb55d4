import Dispatch
import PromptGateCore
import PromptGateTestSupport
import Testing

/// A stage that records its calls and optionally stops.
struct Recorder: Stage {
    let name: String
    var stop = false
    var action: RuleAction = .block

    func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        context.request.params["seen", default: .array([])] = .array(
            (context.request.params["seen"].flatMap { if case .array(let a) = $0 { a } else { nil } } ?? []) + [
                .string(name)
            ])
        if stop {
            context.verdict.add(
                Reason(stage: name, ruleID: "\(name).stop", category: "test", severity: .low, action: action))
            if action == .block { return }
        }
        try next(context)
    }
}

@Suite("Pipeline")
struct PipelineTests {
    func seen(_ context: PromptContext) -> [String] {
        guard case .array(let names) = context.request.params["seen"] else { return [] }
        return names.compactMap { if case .string(let s) = $0 { s } else { nil } }
    }

    @Test func runsStagesInOrderAndStops() throws {
        let pipeline = Pipeline(stages: [Recorder(name: "a"), Recorder(name: "b", stop: true), Recorder(name: "c")])
        let context = try pipeline.run(PromptRequest(prompt: "x"))
        #expect(seen(context) == ["a", "b"])
        #expect(context.verdict.decision == .block)
        #expect(context.trace.map(\.stage) == ["a", "b"])
        #expect(context.trace.map(\.passed) == [true, false])
        #expect(context.trace.allSatisfy { $0.nanoseconds >= 0 })
    }

    @Test func flagLetsTheRequestThrough() throws {
        let pipeline = Pipeline(stages: [Recorder(name: "a", stop: true, action: .flag), Recorder(name: "b")])
        let context = try pipeline.run(PromptRequest(prompt: "x"))
        #expect(seen(context) == ["a", "b"])
        #expect(context.verdict.decision == .flag)
        #expect(context.verdict.reasons.count == 1)
    }

    @Test func flagRuleFromPack() {
        let context = TestSupport.judge("a soldier with an assault rifle")
        #expect(context.verdict.decision == .flag)
        #expect(context.verdict.reasons.first?.ruleID == "en-weapons-firearms")
    }

    @Test func builderFollowsConfiguration() throws {
        let pipeline = try PipelineBuilder(config: PolicyConfig(stages: ["blocklist"])).build()
        #expect(pipeline.stages.map(\.name) == ["blocklist"])
        #expect(try pipeline.run(PromptRequest(prompt: "")).verdict.decision == .allow)  // no length stage
        #expect(throws: UnknownStageError.self) {
            try PipelineBuilder(config: PolicyConfig(stages: ["length", "magic"])).build()
        }
    }

    @Test func viewsAreRebuiltWhenAStageRewritesThePrompt() {
        let context = PromptContext(request: PromptRequest(prompt: "ONE"))
        #expect(context.text(.prompt).text(of: .folded) == "one")
        #expect(context.text(.prompt) === context.text(.prompt))
        context.request.prompt = "TWO"
        #expect(context.text(.prompt).text(of: .folded) == "two")
    }
}

@Suite("Length filter")
struct LengthFilterTests {
    let pipeline = Pipeline(stages: [
        LengthFilter(limits: [
            .prompt: LengthLimit(minScalars: 2, maxScalars: 5, maxBytes: 8),
            .negativePrompt: LengthLimit(maxScalars: 3),
        ])
    ])

    func reasons(_ request: PromptRequest) throws -> [Reason] {
        try pipeline.run(request).verdict.reasons
    }

    @Test func withinLimits() throws {
        #expect(try reasons(PromptRequest(prompt: "abc")).isEmpty)
        #expect(try reasons(PromptRequest(prompt: "汉字")).isEmpty)  // 2 scalars, 6 bytes
    }

    @Test func tooLongInScalars() throws {
        let r = try reasons(PromptRequest(prompt: "abcdef"))
        #expect(r.map(\.ruleID) == ["length.too_long"])
        #expect(r[0].message?.contains("6 characters; the limit is 5") == true)
        #expect(r[0].field == .prompt)
    }

    @Test func tooLongInBytes() throws {
        let r = try reasons(PromptRequest(prompt: "汉字汉"))  // 3 scalars, 9 bytes
        #expect(r.map(\.ruleID) == ["length.too_long"])
        #expect(r[0].message?.contains("9 bytes") == true)
    }

    @Test func tooShortAndEmpty() throws {
        #expect(try reasons(PromptRequest(prompt: "a")).map(\.ruleID) == ["length.too_short"])
        #expect(try reasons(PromptRequest(prompt: "")).first?.message?.contains("prompt is empty") == true)
    }

    @Test func negativePromptLimit() throws {
        let r = try reasons(PromptRequest(prompt: "abc", negativePrompt: "blurry"))
        #expect(r.map(\.ruleID) == ["length.too_long"])
        #expect(r[0].field == .negativePrompt)
    }

    @Test func invalidUTF8IsRefusedWithOffset() throws {
        let request = PromptRequest(promptBytes: [0x61, 0x62, 0xFF, 0x63])
        let r = try reasons(request)
        #expect(r.map(\.ruleID) == ["length.invalid_utf8"])
        #expect(r[0].message?.contains("offset 2") == true)
    }

    @Test func defaultPromptLimitIs1000Characters() {
        #expect(TestSupport.judge(String(repeating: "a", count: 1000)).verdict.decision == .allow)
        #expect(
            TestSupport.judge(String(repeating: "a", count: 1001)).verdict.reasons.first?.ruleID == "length.too_long")
    }
}

@Suite("Fail closed on engine errors")
struct EngineFailureTests {
    @Test func matchLimitBlocksWithEngineError() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: redos\n    category: x\n    pattern: '^(a+)+$'\n", matchLimit: 1000)
        let context = TestSupport.judge(
            String(repeating: "a", count: 28) + "!", pipeline: Pipeline(stages: [BlocklistFilter(rules: rules)]))
        #expect(context.verdict.decision == .block)
        let reason = try #require(context.verdict.reasons.first)
        #expect(reason.ruleID == "policy.engine_error")
        #expect(reason.message?.contains("redos") == true)
        #expect(reason.message?.contains("limit") == true)
    }

    @Test func sameInputPassesWithoutTheCatastrophe() throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: ok\n    category: x\n    pattern: '^a+!$'\n", matchLimit: 1000)
        let context = TestSupport.judge("aaab", pipeline: Pipeline(stages: [BlocklistFilter(rules: rules)]))
        #expect(context.verdict.decision == .allow)
    }
}

@Suite("Rule patterns with callouts of their own")
struct PatternCalloutTests {
    @Test(arguments: ["(?C2)abc", "(?C1)abc(?C1)", "a(?C2)", "(?C\"text\")b"])
    func calloutsInRulePatternsDoNotCrash(pattern: String) throws {
        let rules = try TestSupport.rules(
            yaml: "rules:\n  - id: p\n    category: x\n    pattern: '\(pattern)'\n    views: [raw, joined]\n")
        _ = rules.scan(NormalizedText("xx abc, a b"), field: .prompt)
    }
}

@Suite("Trace")
struct TraceTests {
    @Test func stageTimesAreOwnTimesThatAddUpToAtMostTheRun() throws {
        let pipelines = TestSupport.presetPipelines
        let request = try PromptRequest(json: ["prompt": "a portrait <lora:ghibsky:1>", "style": "anime"])
        let context = PromptContext(request: request)
        let start = DispatchTime.now().uptimeNanoseconds
        try pipelines.pipeline(for: request).run(context)
        let total = Int64(DispatchTime.now().uptimeNanoseconds - start)
        #expect(context.trace.count == 10)
        #expect(context.trace.allSatisfy { $0.nanoseconds >= 0 && $0.passed })
        #expect(context.trace.map(\.nanoseconds).reduce(0, +) <= total)
    }
}
