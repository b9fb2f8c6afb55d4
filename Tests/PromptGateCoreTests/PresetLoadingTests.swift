import Foundation
import PromptGateCore
import PromptGateTestSupport
import Testing

@Suite("Loading presets")
struct PresetLoadingTests {
    func problems(_ files: [String: String]) -> [LoadProblem] {
        do {
            _ = try PresetLoader.parse(sources: BundledPresets.files + files.map { ($0.key, $0.value) })
            return []
        } catch {
            return error.problems
        }
    }

    @Test func bundledPresetsLoadAndInherit() throws {
        let presets = TestSupport.presets
        #expect(Set(presets.keys) == ["default", "fashion-shop", "electronics-brand", "sd15"])
        let sd = try #require(presets["sd15"])
        #expect(sd.model.guidance == .cfg && sd.defaults.width == 512 && sd.limits.multipleOf == 8 && sd.parent == nil)
        let base = try #require(presets["default"]), fashion = try #require(presets["fashion-shop"])
        #expect(
            base.defaults
                == GenerationDefaults(
                    width: 1024, height: 1024, steps: 20, cfgScale: 3.5, sampler: "euler", scheduler: "normal"))
        #expect(base.model.guidance == .flux)
        #expect(base.limits.multipleOf == 16)
        #expect(base.limits.loraWeight == 0.1...2.0)
        // Mappings merge (width overridden, steps inherited), lists replace, styles merge by key.
        #expect(fashion.defaults.width == 896 && fashion.defaults.steps == 20)
        #expect(fashion.qualityWords == ["high quality", "fabric texture detail", "true-to-life colors"])
        #expect(fashion.styles["studio"] != nil && fashion.styles["anime"] != nil)
        #expect(fashion.templates["clothing"]?.aspectRatio == AspectRatio("3:4"))
        #expect(fashion.templates["food"] != nil)
        #expect(fashion.rules.map(\.id) == ["fashion-competitor-names"])
        #expect(fashion.parent == "default")
        #expect(presets["electronics-brand"]?.defaults.width == 1360)
    }

    @Test func everyPresetFileIsBundled() throws {
        let folder = TestSupport.packageRoot.appendingPathComponent("presets")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        #expect(files == BundledPresets.files.map { ($0.name as NSString).lastPathComponent }.sorted())
        for file in BundledPresets.files {
            let onDisk = try String(
                contentsOf: folder.appendingPathComponent((file.name as NSString).lastPathComponent), encoding: .utf8)
            #expect(onDisk == file.text, "\(file.name) differs from the embedded copy; rebuild")
        }
    }

    @Test func bundledExamplesPass() {
        let report = PresetTester.run(Array(TestSupport.presets.values), pipelines: TestSupport.presetPipelines)
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.examples >= 4)
    }

    @Test(arguments: [
        ("name: x\nextends: nowhere\n", "extends", "extends 'nowhere', which is not loaded"),
        ("name: x\nextends: default\ncolour: red\n", "colour", "unknown key 'colour'"),
        ("name: x\nextends: default\ndefault_style: gothic\n", "default_style", "'gothic' is not one of styles"),
        ("name: x\nextends: default\ndefaults: {width: 1000}\n", "defaults", "not a multiple of 16"),
        ("name: x\nextends: default\ndefaults: {steps: 500}\n", "defaults.steps", "outside limits.steps"),
        ("name: x\nextends: default\ndefaults: {sampler: magic}\n", "defaults.sampler", "not in limits.samplers"),
        ("name: x\nextends: default\nlimits: {steps: {min: 10, max: 5}}\n", "limits.steps", "min is above max"),
        ("name: x\nextends: default\noptimizers: [quality, polish]\n", "optimizers", "unknown optimizer 'polish'"),
        (
            "name: x\nextends: default\nloras: {base: [{name: ghost, weight: 1}]}\n", "loras.base[0]",
            "not in loras.available"
        ),
        (
            "name: x\nextends: default\nloras: {rules: [{keywords: [a], loras: 'z*', multiply: 2}]}\n",
            "loras.rules[0].loras", "matches no LoRA"
        ),
        (
            "name: x\nextends: default\nloras: {rules: [{keywords: [a], multiply: 2, set: 1}]}\n", "loras.rules[0]",
            "exactly one of"
        ),
        (
            "name: x\nextends: default\ntemplates: {shoes: {prompt: p, aspect_ratio: wide}}\n",
            "templates.shoes.aspect_ratio", "not an aspect ratio"
        ),
        (
            "name: x\nextends: default\ntemplates: {shoes: {prompt: p, lora: {name: ghost}}}\n", "templates.shoes.lora",
            "not in loras.available"
        ),
        ("name: x\nmodel: {guidance: magic}\n", "model.guidance", "not one of cfg | flux"),
        ("name: x\n", "defaults.width", "is missing"),
        ("name: x\nextends: default\nexamples: [{input: {prompt: a}}]\n", "examples[0]", "needs 'expect'"),
        // Type errors show what was found; a string where a list belongs is refused, not split or wrapped.
        (
            "name: x\nextends: default\ndefaults: {steps: twenty}\n", "defaults.steps",
            "expected an integer, found 'twenty'"
        ),
        ("name: x\nextends: default\ndefaults: {cfg_scale: high}\n", "defaults.cfg_scale", "found 'high'"),
        (
            "name: x\nextends: default\nquality_words: \"sharp, 8k\"\n", "quality_words",
            "expected a list, found 'sharp, 8k'"
        ),
        ("name: x\nextends: default\nnegative_prompt: blurry\n", "negative_prompt", "write a list: [blurry]"),
        ("name: x\nextends: default\nstyles: {ink: black ink}\n", "styles.ink", "expected a list"),
        // A preset's own LoRA weights must lie within its clamp.
        (
            "name: x\nextends: default\nloras: {base: [{name: ghibsky, weight: 3}]}\n", "loras.base[0].weight",
            "3.0 is outside limits.lora_weight 0.1…2.0"
        ),
        (
            "name: x\nextends: default\ntemplates: {food: {prompt: \"{prompt}\", lora: {name: ghibsky, weight: 0.01}}}\n",
            "templates.food.lora.weight", "0.01 is outside limits.lora_weight"
        ),
        // An example cannot expect a field the optimized request does not have.
        (
            "name: x\nextends: default\nexamples: [{input: {prompt: a}, expect: {promt: a}}]\n",
            "examples[0].expect.promt", "unknown field 'promt'"
        ),
        ("name: x\nextends: default\nrules: [{id: r, category: c, pattern: '('}]\n", "", ""),
        ("name: [\n", "", "YAML syntax error"),
    ])
    func problemNamesFileAndKeyPath(yaml: String, keyPath: String, text: String) throws {
        var found = problems(["x.yaml": yaml])
        if keyPath.isEmpty && text.isEmpty {
            // A broken brand rule is found when the pipeline compiles the preset's rules.
            let presets = try PresetLoader.parse(sources: BundledPresets.files + [("x.yaml", yaml)])
            do {
                _ = try PipelineBuilder().build(presets: presets, defaultPreset: "x")
                Issue.record("compiled a broken brand rule")
            } catch let error as RuleLoadError {
                #expect(error.problems.first?.file == "x.yaml")
                #expect(error.problems.first?.ruleID == "r")
            }
            return
        }
        found = found.filter { $0.file == "x.yaml" }
        #expect(found.contains { $0.keyPath == keyPath && $0.message.contains(text) }, "\(found)")
    }

    @Test func inheritanceCycleIsReported() {
        let found = problems(["a.yaml": "name: a\nextends: b\n", "b.yaml": "name: b\nextends: a\n"])
        #expect(found.contains { $0.keyPath == "extends" && $0.message.contains("cycle") })
    }

    @Test func duplicateBrandRuleIDWithPacks() throws {
        let yaml = "name: x\nextends: default\nrules: [{id: en-gore-terms, category: c, terms: [a]}]\n"
        let presets = try PresetLoader.parse(sources: BundledPresets.files + [("x.yaml", yaml)])
        #expect(throws: RuleLoadError.self) { try PipelineBuilder().build(presets: presets, defaultPreset: "x") }
    }

    @Test func fileReplacesBundledPresetOfTheSameName() throws {
        let presets = try PresetLoader.parse(
            sources: BundledPresets.files + [
                ("mine.yaml", "name: fashion-shop\nextends: default\ndefaults: {steps: 9}\n")
            ])
        #expect(presets["fashion-shop"]?.defaults.steps == 9)
        #expect(presets["fashion-shop"]?.source == "mine.yaml")
    }

    @Test func presetTesterReportsMismatches() throws {
        let yaml = """
            name: x
            extends: default
            examples:
              - name: wrong size
                input: {prompt: a cat}
                expect: {width: 512, decision: allow}
              - name: bad input
                input: {prompt: 5}
                expect: {width: 1024}
            """
        let presets = try PresetLoader.parse(sources: BundledPresets.files + [("x.yaml", yaml)])
        let set = try PipelineBuilder().build(presets: presets, defaultPreset: "x")
        let report = PresetTester.run([presets["x"]!], pipelines: set)
        #expect(report.examples == 2)
        #expect(
            report.failures.map(\.problem) == [
                "width: expected 512, got 1024", "input: field 'prompt' must be a string, found number",
            ])
    }
}
