import PromptGateCore

/// Writes an optimized request into a copy of the workflow: the bound inputs get the request's values,
/// SaveImage's prefix becomes unique per task, and the LoRA loader chain is rebuilt for the requested LoRAs.
public enum WorkflowPatcher {
    /// A LoRA as ComfyUI needs it: the model file name and its strength.
    public struct LoraFile: Sendable, Equatable, Codable {
        /// The LoRA file on the ComfyUI side.
        public var file: String
        /// Its strength (model and clip alike).
        public var weight: Double
        /// A LoRA file with a strength.
        public init(file: String, weight: Double) {
            self.file = file
            self.weight = weight
        }
    }

    /// The patched workflow for one task.
    public static func apply(
        _ request: PromptRequest, loras: [LoraFile], taskID: String, to workflow: Workflow, binding: WorkflowBinding
    ) -> Workflow {
        var patched = workflow
        func set(_ field: WorkflowBinding.Field, _ value: JSONValue?) {
            guard let value else { return }
            for input in binding.inputs[field] ?? [] { patched.nodes[input.node]?.inputs[input.input] = value }
        }
        set(.prompt, .string(request.prompt))
        set(.negativePrompt, .string(request.negativePrompt))
        set(.seed, request.seed.map { .number(Double($0)) })
        set(.steps, request.steps.map { .number(Double($0)) })
        set(.cfgScale, request.cfgScale.map { .number($0) })
        set(.sampler, request.sampler.map { .string($0) })
        set(.scheduler, request.scheduler.map { .string($0) })
        set(.width, request.width.map { .number(Double($0)) })
        set(.height, request.height.map { .number(Double($0)) })
        set(.batchSize, request.batchSize.map { .number(Double($0)) })
        set(.filenamePrefix, .string("promptgate/\(taskID)"))
        if !loras.isEmpty { rebuildLoraChain(&patched, loras: loras) }
        return patched
    }

    /// Which loader family the graph uses: Nunchaku FLUX (model only) or classic (model and clip).
    private struct Family {
        let loaderClass: String
        let baseClass: String
        let carriesClip: Bool
    }

    private static let families = [
        Family(loaderClass: "NunchakuFluxLoraLoader", baseClass: "NunchakuFluxDiTLoader", carriesClip: false),
        Family(loaderClass: "LoraLoader", baseClass: "CheckpointLoaderSimple", carriesClip: true),
    ]

    /// Removes the graph's LoRA loaders (rewiring their consumers upstream) and inserts one loader per LoRA
    /// between the model loader and everything that consumed it.
    static func rebuildLoraChain(_ workflow: inout Workflow, loras: [LoraFile]) {
        guard let family = families.first(where: { !workflow.nodes(of: $0.baseClass).isEmpty }),
            let base = workflow.nodes(of: family.baseClass).first
        else { return }
        // New ids start above every id the graph had, so a removed loader's id never comes back meaning something else.
        var nextID = (workflow.nodes.keys.compactMap { Int($0) }.max() ?? 0) + 1
        // 1. Drop existing loaders of that family, pointing their consumers at the loader's own sources.
        for loader in workflow.nodes(of: family.loaderClass) {
            let model = workflow.nodes[loader]?.inputs["model"]
            let clip = workflow.nodes[loader]?.inputs["clip"]
            workflow.nodes[loader] = nil
            redirect(&workflow, from: (loader, 0), to: model)
            if let clip { redirect(&workflow, from: (loader, 1), to: clip) }
        }
        // 2. The new chain after the model loader.
        var model: JSONValue = [.string(base), 0]
        var clip: JSONValue = [.string(base), 1]
        var chain: [String] = []
        for lora in loras {
            let id = String(nextID)
            nextID += 1
            var inputs: [String: JSONValue] = ["lora_name": .string(lora.file), "model": model]
            if family.carriesClip {
                inputs["strength_model"] = .number(lora.weight)
                inputs["strength_clip"] = .number(lora.weight)
                inputs["clip"] = clip
            } else {
                inputs["lora_strength"] = .number(lora.weight)
            }
            workflow.nodes[id] = Workflow.Node(
                classType: family.loaderClass, inputs: inputs, extra: ["_meta": ["title": "PromptGate LoRA"]])
            chain.append(id)
            model = [.string(id), 0]
            clip = [.string(id), 1]
        }
        // 3. Everything else that read the model loader now reads the end of the chain.
        redirect(&workflow, from: (base, 0), to: model, except: Set(chain))
        if family.carriesClip { redirect(&workflow, from: (base, 1), to: clip, except: Set(chain)) }
    }

    private static func redirect(
        _ workflow: inout Workflow, from source: (String, Int), to target: JSONValue?, except: Set<String> = []
    ) {
        guard let target else { return }
        let link: JSONValue = [.string(source.0), .number(Double(source.1))]
        for id in workflow.nodes.keys where !except.contains(id) {
            for (name, value) in workflow.nodes[id]!.inputs where value == link {
                workflow.nodes[id]!.inputs[name] = target
            }
        }
    }
}
