import Foundation
import PromptGateCore
@testable import PromptGateDispatch
import PromptGateTestSupport
import Testing

@Suite("Workflow binding")
struct WorkflowTests {
    func load(_ name: String) throws -> Workflow {
        try Workflow(path: TestSupport.packageRoot.appendingPathComponent("workflows/\(name)").path)
    }

    func value(_ workflow: Workflow, _ node: String, _ input: String) -> JSONValue? {
        workflow.nodes[node]?.inputs[input]
    }

    @Test func nunchakuFluxBindingFollowsTheGraph() throws {
        let binding = try WorkflowBinding(inferringFrom: load("nunchaku-flux.1-dev.api.json"))
        let text = binding.description
        #expect(text.contains("prompt → 6.text"))
        #expect(text.contains("seed → 25.noise_seed"))
        #expect(text.contains("steps → 17.steps"))
        #expect(text.contains("cfg_scale → 26.guidance"))
        #expect(text.contains("sampler → 16.sampler_name"))
        #expect(text.contains("scheduler → 17.scheduler"))
        #expect(text.contains("width → 27.width, 30.width"))  // both nodes that hold the size
        #expect(text.contains("height → 27.height, 30.height"))
        #expect(text.contains("filename_prefix → 9.filename_prefix"))
        #expect(binding.inputs[.negativePrompt] == nil)  // BasicGuider: FLUX.1-dev takes no negative
    }

    @Test func sdBindingFindsBothEncoders() throws {
        let binding = try WorkflowBinding(inferringFrom: load("sd15-lora-txt2img.api.json"))
        #expect(binding.inputs[.prompt] == [.init(node: "6", input: "text")])
        #expect(binding.inputs[.negativePrompt] == [.init(node: "7", input: "text")])
        #expect(binding.inputs[.seed] == [.init(node: "3", input: "seed")])
        #expect(binding.inputs[.cfgScale] == [.init(node: "3", input: "cfg")])
        #expect(binding.inputs[.width] == [.init(node: "5", input: "width")])
    }

    @Test func requestValuesAreWrittenEverywhereTheyBelong() throws {
        let workflow = try load("nunchaku-flux.1-dev.api.json")
        let binding = try WorkflowBinding(inferringFrom: workflow)
        var request = PromptRequest(prompt: "a red fox")
        request.seed = 42
        request.steps = 20
        request.cfgScale = 3.5
        request.sampler = "euler"
        request.scheduler = "normal"
        request.width = 1360
        request.height = 768
        let patched = WorkflowPatcher.apply(request, loras: [], taskID: "abc", to: workflow, binding: binding)
        #expect(value(patched, "6", "text") == "a red fox")
        #expect(value(patched, "25", "noise_seed") == 42)
        #expect(value(patched, "17", "steps") == 20)
        #expect(value(patched, "26", "guidance") == 3.5)
        #expect(value(patched, "27", "width") == 1360 && value(patched, "30", "width") == 1360)
        #expect(value(patched, "27", "height") == 768 && value(patched, "30", "height") == 768)
        #expect(value(patched, "9", "filename_prefix") == "promptgate/abc")
        #expect(patched.nodes.keys.sorted() == workflow.nodes.keys.sorted())  // no LoRAs: graph unchanged
        #expect(value(patched, "30", "model") == ["47", 0])
    }

    @Test func nunchakuLoraChainIsReplaced() throws {
        let workflow = try load("nunchaku-flux.1-dev.api.json")
        let patched = WorkflowPatcher.apply(
            PromptRequest(prompt: "x"),
            loras: [.init(file: "a.safetensors", weight: 0.8), .init(file: "b.safetensors", weight: 1.2)],
            taskID: "t", to: workflow, binding: try WorkflowBinding(inferringFrom: workflow))
        let loaders = patched.nodes(of: "NunchakuFluxLoraLoader")
        #expect(loaders.count == 2)
        #expect(patched.nodes["46"] == nil && patched.nodes["47"] == nil)
        let first = try #require(patched.nodes[loaders[0]]), second = try #require(patched.nodes[loaders[1]])
        #expect(first.inputs["model"] == ["45", 0])
        #expect(first.inputs["lora_name"] == "a.safetensors" && first.inputs["lora_strength"] == 0.8)
        #expect(second.inputs["model"] == [.string(loaders[0]), 0])
        // Every former consumer of the old chain now reads the new one.
        #expect(value(patched, "30", "model") == [.string(loaders[1]), 0])
        #expect(
            !patched.nodes.values.contains {
                $0.inputs.values.contains(["46", 0]) || $0.inputs.values.contains(["47", 0])
            })
    }

    @Test func sdLoraChainCarriesClip() throws {
        let workflow = try load("sd15-lora-txt2img.api.json")
        let patched = WorkflowPatcher.apply(
            PromptRequest(prompt: "x"), loras: [.init(file: "style.safetensors", weight: 0.6)], taskID: "t",
            to: workflow,
            binding: try WorkflowBinding(inferringFrom: workflow))
        let loader = try #require(patched.nodes(of: "LoraLoader").first)
        #expect(patched.nodes["10"] == nil)
        #expect(
            patched.nodes[loader]?.inputs["model"] == ["4", 0] && patched.nodes[loader]?.inputs["clip"] == ["4", 1])
        #expect(
            patched.nodes[loader]?.inputs["strength_model"] == 0.6
                && patched.nodes[loader]?.inputs["strength_clip"] == 0.6)
        #expect(value(patched, "3", "model") == [.string(loader), 0])
        #expect(
            value(patched, "6", "clip") == [.string(loader), 1] && value(patched, "7", "clip") == [.string(loader), 1])
        #expect(value(patched, "8", "vae") == ["4", 2])  // untouched
    }

    @Test func uiFormatIsRefusedWithAHint() throws {
        let path = "/work/shared/fixtures/comfyui/nunchaku-flux.1-dev.json"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            _ = try Workflow(json: data, file: "ui.json")
            Issue.record("accepted a UI-format workflow")
        } catch {
            #expect(error.code == "workflow.ui_format")
            #expect(error.message.contains("Save (API Format)"))
        }
    }

    @Test(arguments: [
        (#"{"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}}"#, "workflow.no_sampler"),
        (#"{"1": {"inputs": {}}}"#, "workflow.invalid"),
        (#"[1, 2]"#, "workflow.invalid"),
        (#"{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}"#, "workflow.no_output"),
    ])
    func badWorkflowsSayWhy(json: String, code: String) {
        do {
            let workflow = try Workflow(json: Data(json.utf8))
            _ = try WorkflowBinding(inferringFrom: workflow)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code == code, "\(error)")
        }
    }

    /// A graph with no text encoder (image to image, upscaling) is bound without a prompt, with a warning.
    @Test func aGraphWithoutATextEncoderBindsWithAWarning() throws {
        let json = #"""
            {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
             "2": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "cfg": 1, "sampler_name": "euler",
                   "scheduler": "normal", "denoise": 1, "latent_image": ["1", 0]}},
             "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["2", 0]}}}
            """#
        let workflow = try Workflow(json: Data(json.utf8))
        let binding = try WorkflowBinding(inferringFrom: workflow)
        #expect(binding.inputs[.prompt] == nil && binding.inputs[.seed] == [.init(node: "2", input: "seed")])
        #expect(binding.problems(in: workflow).isEmpty)
        #expect(binding.warnings.count == 1 && binding.warnings[0].hasPrefix("prompt: no text encoder input is bound"))
        #expect(try WorkflowBinding(inferringFrom: load("sd15-lora-txt2img.api.json")).warnings.isEmpty)
    }

    /// What the final graph loads: the workflow's own LoRAs when the request names none, the request's when
    /// it does; model files by kind; nodes no output depends on left out (ComfyUI does not run them).
    @Test func graphModelsDescribeWhatRuns() throws {
        let flux = try load("nunchaku-flux.1-dev.api.json")
        let own = GraphModels(of: flux)
        #expect(own.loras.map(\.file) == ["flux1-turbo.safetensors", "diffusers-ghibsky.safetensors"])
        #expect(own.loras.allSatisfy { $0.strengthModel == 1 && $0.strengthClip == nil })
        #expect(own.unets == ["svdq-int4-flux.1-dev"] && own.vaes == ["ae.safetensors"])
        #expect(own.textEncoders == ["t5xxl_fp16.safetensors", "clip_l.safetensors"])
        let binding = try WorkflowBinding(inferringFrom: flux)
        let patched = WorkflowPatcher.apply(
            PromptRequest(prompt: "x"), loras: [.init(file: "product_style.safetensors", weight: 0.7)], taskID: "t",
            to: flux, binding: binding)
        #expect(
            GraphModels(of: patched).loras.map { "\($0.file) \($0.strengthModel)" } == ["product_style.safetensors 0.7"]
        )
        let sd = try load("sd15-lora-txt2img.api.json")
        let classic = GraphModels(of: sd)
        #expect(classic.checkpoints == ["v1-5-pruned-emaonly.safetensors"])
        #expect(classic.loras.map { [$0.node, $0.file] } == [["10", "example_lora.safetensors"]])
        #expect(classic.loras.first?.strengthClip == 1)
        // A loader nothing downstream uses does not run.
        var dangling = sd
        dangling.nodes["99"] = sd.nodes["10"]
        dangling.nodes["99"]?.inputs["lora_name"] = "unused.safetensors"
        #expect(GraphModels(of: dangling).loras.map(\.file) == ["example_lora.safetensors"])
        // A LoRA stack: each slot that is not "None".
        let stack = #"""
            {"1": {"class_type": "NunchakuFluxLoraStack", "inputs": {"lora_name_1": "a.safetensors",
                   "lora_strength_1": 0.5, "lora_name_2": "None", "lora_strength_2": 1,
                   "lora_name_3": "b.safetensors", "lora_strength_3": 1.5}}}
            """#
        let stacked = GraphModels(of: try Workflow(json: Data(stack.utf8)))
        #expect(stacked.loras.map { "\($0.file) \($0.strengthModel)" } == ["a.safetensors 0.5", "b.safetensors 1.5"])
    }

    @Test func explicitBindingsOverride() throws {
        let binding = try WorkflowBinding(inferringFrom: load("sd15-lora-txt2img.api.json"))
            .overriding([.seed: [.init(node: "3", input: "noise_seed")]])
        #expect(binding.inputs[.seed] == [.init(node: "3", input: "noise_seed")])
        #expect(binding.inputs[.steps] == [.init(node: "3", input: "steps")])
    }

    @Test func jsonRoundTripKeepsMeta() throws {
        let workflow = try load("nunchaku-flux.1-dev.api.json")
        let again = try Workflow(json: try JSONEncoder().encode(workflow.json))
        #expect(again == workflow)
    }
}

@Suite("Workflow against a backend's /object_info")
struct WorkflowValidatorTests {
    /// object_info for the SD graph's classes, in the V1 combo shape ComfyUI v0.3.64 uses.
    func objectInfo(checkpoints: [String], loras: [String]) -> [String: JSONValue] {
        func combo(_ values: [String]) -> JSONValue { [.array(values.map { .string($0) }), [:]] }
        let plain: JSONValue = ["input": ["required": [:]]]
        return [
            "KSampler": [
                "input": [
                    "required": [
                        "sampler_name": combo(["euler", "dpmpp_2m"]),
                        "scheduler": ["COMBO", ["options": ["normal", "karras"]]],
                    ]
                ]
            ],
            "CheckpointLoaderSimple": ["input": ["required": ["ckpt_name": combo(checkpoints)]]],
            "LoraLoader": ["input": ["required": ["lora_name": combo(loras)]]],
            "EmptyLatentImage": plain, "CLIPTextEncode": plain, "VAEDecode": plain, "SaveImage": plain,
        ]
    }

    @Test func eligibleWhenEverythingIsThere() throws {
        let workflow = try Workflow(
            path: TestSupport.packageRoot.appendingPathComponent("workflows/sd15-lora-txt2img.api.json").path)
        let info = objectInfo(
            checkpoints: ["v1-5-pruned-emaonly.safetensors"], loras: ["example_lora.safetensors", "style.safetensors"])
        #expect(
            WorkflowValidator.problems(
                workflow, objectInfo: info, requirements: BackendRequirements(loraFiles: ["style.safetensors"])
            ).isEmpty)
    }

    @Test func missingModelsClassesAndLorasAreNamed() throws {
        var workflow = try Workflow(
            path: TestSupport.packageRoot.appendingPathComponent("workflows/sd15-lora-txt2img.api.json").path)
        workflow.nodes["3"]?.inputs["scheduler"] = "exotic"
        var info = objectInfo(checkpoints: [], loras: [])
        info["VAEDecode"] = nil
        let found = WorkflowValidator.problems(
            workflow, objectInfo: info,
            requirements: BackendRequirements(
                loraFiles: ["style.safetensors"], samplers: ["euler", "euler_turbo"], schedulers: ["normal"]))
        let problems = found.map(\.description)
        // The choices are named, not counted.
        #expect(
            problems.contains(
                "node 3 (KSampler): scheduler 'exotic' is not on this server (choices: 'normal', 'karras')"))
        #expect(
            problems.contains(
                "node 4 (CheckpointLoaderSimple): ckpt_name 'v1-5-pruned-emaonly.safetensors' is not on this server (it offers none)"
            ))
        #expect(problems.contains("node 8: class VAEDecode is not installed on this server"))
        // A LoRA file a preset names is not a problem of the backend (it still runs other requests): it is listed
        // apart, so requests that need it go elsewhere.
        #expect(!problems.contains { $0.contains("style.safetensors") })
        #expect(
            WorkflowValidator.missingLoras(
                workflow, objectInfo: info, requirements: BackendRequirements(loraFiles: ["style.safetensors"]))
                == ["style.safetensors"])
        // A sampler a preset allows that the server lacks fails here, not in ComfyUI.
        #expect(
            problems.contains(
                "sampler_name 'euler_turbo' a preset allows is not on this server (node 3 KSampler: choices: 'euler', 'dpmpp_2m')"
            ))
        #expect(!problems.contains { $0.contains("'euler' a preset") })
        let reason = try #require(WorkflowValidator.reason(for: found))
        #expect(reason.code == "backend.missing_nodes")
        #expect(found.first { $0.description.hasPrefix("node 4") }?.kind == .missingFile)
        #expect(found.first { $0.description.hasPrefix("node 3") }?.kind == .unsupportedValue)
    }

    @Test func nunchakuGraphOnAServerWithoutThePlugin() throws {
        let workflow = try Workflow(
            path: TestSupport.packageRoot.appendingPathComponent("workflows/nunchaku-flux.1-dev.api.json").path)
        let problems = WorkflowValidator.problems(workflow, objectInfo: ["SaveImage": ["input": [:]]])
        #expect(
            problems.map(\.description).contains("node 45: class NunchakuFluxDiTLoader is not installed on this server")
        )
        #expect(problems.count == workflow.nodes.count - 1)
    }
}

@Suite("Bundled workflows")
struct BundledWorkflowTests {
    @Test func everyFileInWorkflowsIsBundledAndBinds() throws {
        let folder = TestSupport.packageRoot.appendingPathComponent("workflows")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
            .sorted()
        #expect(BundledWorkflows.files.map(\.name).sorted() == files)
        for (name, data) in BundledWorkflows.files {
            #expect(FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) == data)
            _ = try WorkflowBinding(inferringFrom: Workflow(json: data, file: name))
        }
        #expect(BundledWorkflows.named("./somewhere/sd15-lora-txt2img.api.json")?.name == "sd15-lora-txt2img.api.json")
        #expect(BundledWorkflows.named("other.json") == nil)
    }

    /// The result-cache key's encoding is pinned (keys stored by `cache.backend: database` must keep matching
    /// after an upgrade): this digest was computed independently from the documented walk (sorted keys, tagged
    /// and length-prefixed values, numbers as 64-bit floats).
    @Test func theCacheKeyEncodingIsStable() throws {
        let json = #"""
            {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5 é.safetensors"}},
             "3": {"class_type": "KSampler", "inputs": {"seed": 7, "cfg": 3.5, "model": ["4", 0], "denoise": true,
                   "extra": null}}}
            """#
        let graph = try Workflow(json: Data(json.utf8), file: "pinned.json")
        #expect(graph.cacheKey == "555091d0bb80f1813e2b401471b1bfc72c630333bc39511c1bf843e6bfb8413c")
    }

    /// A write replaces the file whole and leaves nothing else behind; a failure says which file and why.
    @Test func outputWritesAreWholeAndLeaveNothingBehind() throws {
        let path = try TestSupport.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let folder = try OutputFolder(path: path)
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
        try folder.write(big, name: "t_0.png")
        try folder.write([1, 2, 3], name: "t_1.png")
        try folder.write([4, 5], name: "t_1.png")  // replaced
        #expect(folder.contents(named: "t_0.png") == Data(big))
        #expect(folder.contents(named: "t_1.png") == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).sorted() == ["t_0.png", "t_1.png"])
        try FileManager.default.removeItem(atPath: path)
        #expect {
            try folder.write([1], name: "t_2.png")
        } throws: { error in
            "\(error)".contains("create") && "\(error)".contains("t_2.png") && "\(error)".contains("No such file")
        }
    }

    @Test func outputNamesStayInsideTheFolder() throws {
        let folder = try OutputFolder(path: TestSupport.temporaryDirectory().path)
        #expect(folder.file(named: "0b4c_0.png") != nil)
        for bad in ["../x.png", "..", ".png", "a/b.png", "a.b.png", "", "x\u{0}.png", "%2e%2e.png", "x.png/"] {
            #expect(folder.file(named: bad) == nil, "\(bad)")
        }
        #expect(
            OutputFolder.contentType(for: "a.webp") == "image/webp"
                && OutputFolder.contentType(for: "a.bin") == "application/octet-stream")
    }
}
