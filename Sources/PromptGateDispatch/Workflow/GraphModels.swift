import PromptGateCore

/// What a patched graph makes ComfyUI load: its model files (checkpoint, diffusion model, VAE, text encoders)
/// and every LoRA loader with its file and strengths, whether the request asked for it or the workflow
/// carried it. Only nodes an output depends on count (ComfyUI runs nothing else). Task metadata reports this,
/// so it describes what the backend ran, not what the request named.
public struct GraphModels: Sendable, Equatable, Codable {
    /// One LoRA the graph applies.
    public struct Lora: Sendable, Equatable, Codable {
        /// The loader node.
        public var node: String
        /// The LoRA file.
        public var file: String
        /// Strength on the diffusion model.
        public var strengthModel: Double
        /// Strength on the text encoder; nil for model-only loaders (Nunchaku FLUX, `LoraLoaderModelOnly`).
        public var strengthClip: Double?
    }

    /// Checkpoint files (`ckpt_name`).
    public var checkpoints: [String] = []
    /// Diffusion model (UNet) files (`unet_name`, Nunchaku's `model_path`).
    public var unets: [String] = []
    /// VAE files (`vae_name`).
    public var vaes: [String] = []
    /// Text encoder files (`clip_name*`, `text_encoder*`).
    public var textEncoders: [String] = []
    /// Every LoRA, in node id order.
    public var loras: [Lora] = []

    /// The models `workflow` loads.
    public init(of workflow: Workflow) {
        for id in Self.executed(workflow).sorted(by: Workflow.idOrder) {
            guard let node = workflow.nodes[id] else { continue }
            for (name, value) in node.inputs.sorted(by: { $0.key < $1.key }) {
                guard case .string(let file) = value, file != "None" else { continue }
                switch name {
                case "ckpt_name": Self.add(file, to: &checkpoints)
                case "unet_name", "model_path": Self.add(file, to: &unets)
                case "vae_name": Self.add(file, to: &vaes)
                case _ where name.hasPrefix("clip_name") || name.hasPrefix("text_encoder"):
                    Self.add(file, to: &textEncoders)
                default: break
                }
            }
            loras += Self.loras(of: node, id: id)
        }
    }

    private static func add(_ file: String, to list: inout [String]) {
        if !list.contains(file) { list.append(file) }
    }

    /// The LoRAs one node applies: a loader (`lora_name` with `strength_model`/`strength_clip` or
    /// `lora_strength`) or a stack (`lora_name_N` with `lora_strength_N`, `"None"` skipped).
    private static func loras(of node: Workflow.Node, id: String) -> [Lora] {
        func number(_ key: String) -> Double? {
            if case .number(let value)? = node.inputs[key] { return value }
            return nil
        }
        if case .string(let file)? = node.inputs["lora_name"], file != "None" {
            if let strength = number("lora_strength") { return [Lora(node: id, file: file, strengthModel: strength)] }
            return [
                Lora(
                    node: id, file: file, strengthModel: number("strength_model") ?? 1,
                    strengthClip: number("strength_clip"))
            ]
        }
        var stack: [Lora] = []
        for index in 1...64 {
            guard case .string(let file)? = node.inputs["lora_name_\(index)"] else { break }
            guard file != "None" else { continue }
            stack.append(Lora(node: id, file: file, strengthModel: number("lora_strength_\(index)") ?? 1))
        }
        return stack
    }

    /// The nodes ComfyUI executes: the output nodes (SaveImage, PreviewImage) and everything they depend on;
    /// every node when the graph has no output node of those classes.
    static func executed(_ workflow: Workflow) -> Set<String> {
        let outputs = workflow.nodes.filter { ["SaveImage", "PreviewImage"].contains($0.value.classType) }.map(\.key)
        guard !outputs.isEmpty else { return Set(workflow.nodes.keys) }
        var seen = Set<String>()
        var pending = outputs
        while let id = pending.popLast() {
            guard seen.insert(id).inserted, let node = workflow.nodes[id] else { continue }
            for value in node.inputs.values {
                if case .array(let pair) = value, pair.count == 2, case .string(let source) = pair[0],
                    case .number = pair[1], workflow.nodes[source] != nil
                {
                    pending.append(source)
                }
            }
        }
        return seen
    }
}
