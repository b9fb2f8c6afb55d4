import PromptGateBench
import PromptGateCore
import PromptGateTestSupport
import Testing

/// A tiny FLUX-like preset with every optimizer exercised, built on the bundled default.
let testPreset = """
    name: test
    extends: default
    quality_words: [high quality, 8k, 高清]
    styles:
      anime: [anime style, cel shading]
      cn: [水墨画, 留白]
    templates:
      poster: {prompt: "movie poster of {prompt}, bold title", aspect_ratio: "2:3"}
      banner: {prompt: "wide banner", aspect_ratio: "21:9", lora: {name: product_style, weight: 0.5}}
    loras:
      available: [a_lora, b_lora, product_style, style_x]
      base: [{name: a_lora, weight: 0.5}]
      rules:
        - {keywords: [portrait], loras: "*", multiply: 1.2}
        - {keywords: [landscape, 风景], loras: "b_*", add: 0.3}
        - {keywords: [night], loras: style_x, set: 1.7}
    """

@Suite("Optimizer stages")
struct OptimizerTests {
    let pipelines = try! TestSupport.pipelines(presetYAML: ["test": testPreset], defaultPreset: "test")

    func run(_ json: [String: JSONValue]) throws -> PromptContext {
        try TestSupport.optimize(json, pipelines: pipelines)
    }

    func prompt(_ json: [String: JSONValue]) throws -> String { try run(json).request.prompt }

    @Test func qualityWordsAreAddedOnceCaseAndWidthInsensitive() throws {
        #expect(try prompt(["prompt": "a cat"]) == "a cat, high quality, 8k, 高清")
        #expect(try prompt(["prompt": "a cat, 8K"]) == "a cat, 8K, high quality, 高清")
        #expect(try prompt(["prompt": "a cat, ８ｋ, HIGH-QUALITY,"]) == "a cat, ８ｋ, HIGH-QUALITY, 高清")
        #expect(try prompt(["prompt": "超高清的猫"]) == "超高清的猫，high quality, 8k")
    }

    @Test func emptyPromptGetsOnlyTheWords() throws {
        let pipelines = try TestSupport.pipelines(
            presetYAML: ["test": testPreset, "empty": "name: empty\nextends: test\n"], defaultPreset: "empty")
        // The length stage refuses an empty prompt before optimizers; without it the words stand alone.
        let lengthless = try PipelineBuilder(config: PolicyConfig(stages: ["blocklist"]))
            .build(
                presets: PresetLoader.parse(sources: BundledPresets.files + [("test.yaml", testPreset)]),
                defaultPreset: "test")
        #expect(
            try TestSupport.optimize(["prompt": ""], pipelines: lengthless).request.prompt == "high quality, 8k, 高清")
        #expect(
            try TestSupport.optimize(["prompt": ""], pipelines: pipelines).verdict.reasons.first?.ruleID
                == "length.too_short")
    }

    @Test func styleWordsAndUnknownStyle() throws {
        #expect(
            try prompt(["prompt": "a fox", "style": "anime"]) == "a fox, anime style, cel shading, high quality, 8k, 高清"
        )
        #expect(try prompt(["prompt": "山水", "style": "cn"]) == "山水，水墨画，留白，high quality, 8k, 高清")
        #expect(try prompt(["prompt": "水墨画的山", "style": "cn"]) == "水墨画的山，留白，high quality, 8k, 高清")
        #expect(throws: RequestError.self) { try run(["prompt": "a fox", "style": "cubism"]) }
        do {
            _ = try run(["prompt": "a fox", "style": "cubism"])
        } catch let error as RequestError {
            #expect(error.field == "style")
            #expect(error.code == "request.unknown_name")
            #expect(error.message.contains("anime, cn, digital"))
        }
    }

    @Test func templatePlaceholderPrefixLoraAndAspectRatio() throws {
        let poster = try run(["prompt": "a lighthouse", "template": "poster"])
        #expect(poster.request.prompt == "movie poster of a lighthouse, bold title, high quality, 8k, 高清")
        #expect(poster.request.width == 832)
        #expect(poster.request.height == 1248)
        let banner = try run(["prompt": "a lighthouse", "template": "banner"])
        #expect(banner.request.prompt == "wide banner, a lighthouse, high quality, 8k, 高清")
        #expect(banner.request.loras.map(\.name) == ["product_style", "a_lora"])
        #expect(banner.request.width! * 9 / banner.request.height! == 21)
        // A size in the request wins over the template's ratio.
        let sized = try run(["prompt": "x", "template": "banner", "width": 512, "height": 512])
        #expect(sized.request.width == 512 && sized.request.height == 512)
        #expect(throws: RequestError.self) { try run(["prompt": "x", "template": "shoes"]) }
    }

    @Test(arguments: [
        ("16:9", 1360, 768), ("1:1", 1024, 1024), ("4:3", 1184, 880), ("3:4", 880, 1184), ("9:16", 768, 1360),
    ])
    func aspectRatiosFitTheBudgetAndGrid(ratio: String, width: Int, height: Int) throws {
        let size = try #require(
            AspectRatio(ratio)?.size(area: 1024 * 1024, multiple: 16, width: 256...2048, height: 256...2048))
        #expect(size.width == width && size.height == height)
        #expect(size.width * size.height <= 1024 * 1024)
    }

    @Test func loraTagsMoveIntoLoras() throws {
        let context = try run(["prompt": "a cat, <lora:b_lora:0.7>, sitting <lora:style_x>"])
        #expect(context.request.prompt.hasPrefix("a cat, sitting"))
        #expect(context.request.loras.map(\.name) == ["b_lora", "style_x", "a_lora"])
        #expect(context.request.loras.map(\.weight) == [0.7, 1.0, 0.5])
    }

    @Test(arguments: [
        "a <lora:b_lora:abc>", "a <lora:b_lora:nan>", "a <lora:b_lora:inf>", "a <lora:unknown:1>", "a <lora::1>",
        "a <lora:b_lora:1",
    ])
    func badTagsAreFieldNamedErrors(prompt: String) {
        do {
            _ = try run(["prompt": .string(prompt)])
            Issue.record("accepted \(prompt)")
        } catch let error as RequestError {
            #expect(error.field == "prompt", "\(error)")
            #expect(error.message.contains("LoRA tag"), "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func keywordRulesMultiplyAddSetThenClamp() throws {
        let portrait = try run(["prompt": "a Portrait of a man", "loras": [["name": "b_lora", "weight": 1.0]]])
        #expect(
            portrait.request.loras == [
                LoRA(name: "b_lora", weight: 1.2, requestedWeight: 1.0),
                LoRA(name: "a_lora", weight: 0.6, requestedWeight: 0.5),
            ])
        // Full-width keyword still matches; add then clamp at 2.0 with a warning.
        let landscape = try run([
            "prompt": "ｌａｎｄｓｃａｐｅ at ｎｉｇｈｔ",
            "loras": [["name": "b_lora", "weight": 1.9], ["name": "style_x", "weight": 0.2]],
        ])
        #expect(landscape.request.loras.map(\.weight) == [2.0, 1.7, 0.5])
        #expect(landscape.warnings.map(\.code) == ["lora.clamped"])
        // Chinese keyword.
        #expect(
            try run(["prompt": "一幅风景画", "loras": [["name": "b_lora", "weight": 1.0]]]).request.loras.first?.weight
                == 1.3)
        // Below the range is clamped up.
        #expect(
            try run(["prompt": "x", "loras": [["name": "b_lora", "weight": 0.0]]]).request.loras.first?.weight == 0.1)
    }

    @Test func nonFiniteAndUnknownLorasAreRefused() throws {
        #expect(throws: RequestError.self) {
            try PromptRequest(json: ["prompt": "x", "loras": [["name": "b_lora", "weight": .number(.nan)]]])
        }
        #expect(throws: RequestError.self) {
            try PromptRequest(json: ["prompt": "x", "loras": [["name": "b_lora", "weight": .number(.infinity)]]])
        }
        do {
            _ = try run(["prompt": "x", "loras": [["name": "nope", "weight": 1]]])
            Issue.record("accepted an unknown LoRA")
        } catch let error as RequestError {
            #expect(error.field == "loras[0].name")
            #expect(error.message.contains("a_lora, b_lora"))
        }
    }

    @Test func negativePromptOnFluxWarnsInsteadOfPretending() throws {
        let flux = try run(["prompt": "x", "negative_prompt": "blurry"])
        #expect(flux.request.negativePrompt == "blurry")
        #expect(flux.warnings.map(\.code) == ["negative_prompt.ignored"])
        #expect(try run(["prompt": "x"]).warnings.isEmpty)
        // A classic-CFG model merges the defaults, once.
        let sd = try TestSupport.pipelines(
            presetYAML: [
                "sd":
                    "name: sd\nextends: default\nmodel: {name: sd15, guidance: cfg}\ndefaults: {cfg_scale: 7.0}\nnegative_prompt: [blurry, low quality]\n"
            ],
            defaultPreset: "sd")
        let merged = try TestSupport.optimize(["prompt": "x", "negative_prompt": "Blurry, ugly"], pipelines: sd)
        #expect(merged.request.negativePrompt == "Blurry, ugly, low quality")
        #expect(merged.warnings.isEmpty)
        let lowCFG = try TestSupport.optimize(
            ["prompt": "x", "negative_prompt": "ugly", "cfg_scale": 1.0], pipelines: sd)
        #expect(lowCFG.request.negativePrompt == "ugly")
        #expect(lowCFG.warnings.map(\.code) == ["negative_prompt.ignored"])
    }

    @Test func defaultsFillWhatIsMissingAndPickASeed() throws {
        let context = try run(["prompt": "x", "steps": 30, "width": 512])
        #expect(context.request.steps == 30)
        #expect(context.request.width == 512)
        #expect(context.request.height == 1024)
        #expect(context.request.cfgScale == 3.5)
        #expect(context.request.sampler == "euler")
        #expect(context.request.scheduler == "normal")
        #expect(context.request.seed != nil)
        #expect(context.request.preset == "test")
        #expect(try run(["prompt": "x", "seed": 4_294_967_295]).request.seed == 4_294_967_295)
    }

    /// ComfyUI seeds are 64-bit: the bundled SD 1.5 graph's own seed passes, -1 and null mean "pick one", and
    /// the pick stays within what JSON carries exactly.
    @Test(arguments: [
        (JSONValue.number(156_680_208_700_286), UInt64?.some(156_680_208_700_286)),
        (.number(9_007_199_254_740_991), .some(PromptRequest.maxSeed)), (.number(0), .some(0)),
        (.number(-1), nil), (.null, nil),
    ])
    func seedsAreSixtyFourBitAndMinusOnePicks(given: JSONValue, kept: UInt64?) throws {
        let seed = try #require(try run(["prompt": "x", "seed": given]).request.seed)
        if let kept { #expect(seed == kept) } else { #expect(seed <= PromptRequest.maxSeed) }
    }

    static let invalidRequests: [(extra: [String: JSONValue], field: String, text: String)] = [
        (["width": 1000], "width", "multiple of 16"),
        (["width": 4096], "width", "between 256 and 2048"),
        (["width": 2048, "height": 2048], "width", "over the budget"),
        (["steps": 0], "steps", "between 1 and 10000"),
        (["steps": 151], "steps", "between 1 and 150"),
        (["cfg_scale": 30.0], "cfg_scale", "between 1.0 and 10.0"),
        (["seed": -2], "seed", "between -1 and 9007199254740991"),
        (["seed": 9_007_199_254_740_992], "seed", "between -1 and 9007199254740991"),
        (["seed": 1.5], "seed", "an integer"),
        (["sampler": "magic"], "sampler", "does not define"),
        (["scheduler": "karras2"], "scheduler", "does not define"),
        (["priority": "urgent"], "priority", "high, normal or low"),
        (["loras": "b_lora"], "loras", "a list"),
        (["loras": [["weight": 1]]], "loras[0].name", "is missing"),
        (["loras": [["name": "b_lora", "strength": 1]]], "loras[0].strength", "not a LoRA field"),
        (["width": "big"], "width", "a number"),
    ]

    @Test(arguments: invalidRequests)
    func validationNamesTheField(extra: [String: JSONValue], field: String, text: String) {
        var json = extra
        json["prompt"] = "a cat"
        do {
            _ = try run(json)
            Issue.record("accepted \(extra)")
        } catch let error as RequestError {
            #expect(error.field == field, "\(error)")
            #expect(error.message.contains(text), "\(error)")
            #expect(error.kind == .invalidInput)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func unknownPresetIsAFieldError() {
        #expect(throws: RequestError.self) { try run(["prompt": "x", "preset": "nope"]) }
    }

    @Test func blockedRequestsAreNotOptimized() throws {
        let context = try run(["prompt": "blood everywhere"])
        #expect(context.verdict.isBlocked)
        #expect(context.request.prompt == "blood everywhere")
        #expect(context.request.seed == nil)
    }

    @Test func traceSaysWhatEachStageChanged() throws {
        let context = try run(["prompt": "a portrait <lora:b_lora:1>", "style": "anime", "seed": 1])
        let notes = Dictionary(uniqueKeysWithValues: context.trace.map { ($0.stage, $0.notes) })
        #expect(notes["lora_tags"] == ["moved tags to loras: b_lora:1.0"])
        #expect(notes["style"] == ["style 'anime': added anime style, cel shading"])
        #expect(notes["quality"] == ["added high quality, 8k, 高清"])
        #expect(notes["lora_weights"]?.contains("b_lora 1.0 → 1.2 (keyword rule 1)") == true)
        #expect(
            context.trace.map(\.stage) == [
                "length", "blocklist", "validate", "lora_tags", "template", "style", "quality", "negative",
                "lora_weights", "defaults",
            ])
    }

    @Test func presetDecidesOrderAndOnOff() throws {
        let pipelines = try TestSupport.pipelines(
            presetYAML: ["test": testPreset, "lean": "name: lean\nextends: test\noptimizers: [defaults, quality]\n"],
            defaultPreset: "lean")
        let context = try TestSupport.optimize(["prompt": "a <lora:b_lora:1>", "style": "anime"], pipelines: pipelines)
        #expect(context.trace.suffix(2).map(\.stage) == ["defaults", "quality"])
        #expect(context.request.prompt == "a <lora:b_lora:1>, high quality, 8k, 高清")  // tags and style stages are off
    }

    /// SD-style CFG sent to the FLUX graph is warned about (it is FluxGuidance there); FLUX-range values and
    /// classic-CFG presets are not.
    @Test(arguments: [
        ("default", 7.5, true), ("default", 5.5, true), ("default", 5.0, false), ("default", 3.5, false),
        ("sd15", 7.5, false),
    ])
    func sdStyleCfgOnFluxIsWarned(preset: String, cfg: Double, warned: Bool) throws {
        let pipelines = try TestSupport.pipelines(
            presetYAML: ["sd15": "name: sd15\nextends: default\nmodel: {name: sd15, guidance: cfg}\n"],
            defaultPreset: "default")
        let context = try TestSupport.optimize(
            ["prompt": "a fox", "preset": .string(preset), "cfg_scale": .number(cfg)], pipelines: pipelines)
        let warning = context.warnings.first { $0.code == "cfg_scale.flux_guidance" }
        #expect((warning != nil) == warned)
        if let warning {
            #expect(warning.message.contains("FLUX guidance value for this workflow"))
            #expect(warning.message.contains("distilled around 3.5"))
        }
        #expect(context.request.cfgScale == cfg)
    }
}

@Suite("Idempotence")
struct IdempotenceTests {
    static let fragments = [
        "a cat", "portrait of a woman", "landscape", "8K", "High Quality", "高清", "风景", "超高清", "(masterpiece:1.2)",
        "night city", "水墨画", "cel shading", "anime style", "sharp focus", "highly detailed", "a dog,", "，", "ｌａｎｄｓｃａｐｅ",
        "true-to-life colors", "soft studio lighting", "<lora:b_lora:0.8>", "<lora:a_lora>", "movie poster of",
        "bold title",
    ]

    @Test func optimizingTwiceChangesNothing() throws {
        let pipelines = try TestSupport.pipelines(presetYAML: ["test": testPreset], defaultPreset: "test")
        var rng = SeededGenerator(seed: 11)
        let presetNames = ["test", "default", "fashion-shop", "electronics-brand"]
        for _ in 0..<1500 {
            var parts: [String] = []
            for _ in 0..<Int(1 + rng.next() % 5) {
                parts.append(Self.fragments[Int(rng.next() % UInt64(Self.fragments.count))])
            }
            let preset = presetNames[Int(rng.next() % 4)]
            var json: [String: JSONValue] = [
                "prompt": .string(parts.joined(separator: rng.next() % 2 == 0 ? ", " : " ")), "preset": .string(preset),
            ]
            if preset == "test" {
                if rng.next() % 3 == 0 { json["style"] = .string(["anime", "cn"][Int(rng.next() % 2)]) }
                if rng.next() % 3 == 0 { json["template"] = .string(["poster", "banner"][Int(rng.next() % 2)]) }
                if rng.next() % 2 == 0 {
                    json["loras"] = [["name": "b_lora", "weight": .number(Double(rng.next() % 30) / 10)]]
                }
            } else if json["prompt"].map({ if case .string(let s) = $0 { s.contains("<lora:") } else { false } })
                == true
            {
                json["prompt"] = .string(parts.filter { !$0.hasPrefix("<lora") }.joined(separator: ", ") + " x")
            }
            let first = try TestSupport.optimize(json, pipelines: pipelines)
            guard !first.verdict.isBlocked else { continue }
            let second = try TestSupport.optimize(first.request.jsonObject, pipelines: pipelines)
            #expect(second.request.jsonObject == first.request.jsonObject, "\(json)")
            // No stage reports adding anything the second time (weights are recomputed from requested_weight).
            let changes = second.trace.flatMap(\.notes).filter {
                ["added", "moved", "base LoRA", "filled", "template"].contains(where: $0.hasPrefix)
            }
            #expect(changes.isEmpty, "\(json): \(changes)")
        }
    }
}
