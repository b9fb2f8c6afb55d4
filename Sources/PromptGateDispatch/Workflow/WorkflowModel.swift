import PromptGateCore

extension WorkflowBinding {
    /// What the bound graph says about its model, which `serve` uses in place of the presets' `model` labels:
    /// `flux` guidance when `cfg_scale` feeds a FluxGuidance `guidance` input (else classic CFG), the graph's own
    /// CFG (a CFGGuider's `cfg`, else 1), whether any negative prompt input is bound, and the model's name from
    /// its loader (`ckpt_name`, `unet_name` or `model_path`, without folder and extension).
    public func modelProfile(in workflow: Workflow) -> ModelProfile {
        let flux = inputs[.cfgScale]?.contains { $0.input == "guidance" } ?? false
        var trueCFG = 1.0
        if flux {
            for id in workflow.nodes(of: "CFGGuider") {
                if case .number(let cfg)? = workflow.nodes[id]?.inputs["cfg"] { trueCFG = cfg }
            }
        }
        let loaderInputs = ["ckpt_name", "unet_name", "model_path"]
        let name = workflow.nodes.keys.sorted(by: Workflow.idOrder).lazy.compactMap { id -> String? in
            guard let node = workflow.nodes[id] else { return nil }
            for input in loaderInputs {
                if case .string(let file)? = node.inputs[input] { return Self.modelName(file) }
            }
            return nil
        }.first
        return ModelProfile(
            name: name ?? "unknown", guidance: flux ? .flux : .cfg, trueCFG: trueCFG,
            hasNegativeInput: !(inputs[.negativePrompt]?.isEmpty ?? true))
    }

    /// `models/svdq-int4-flux.1-dev.safetensors` → `svdq-int4-flux.1-dev`.
    static func modelName(_ file: String) -> String {
        let base = file.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? file
        for suffix in [".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"]
        where base.lowercased().hasSuffix(suffix) {
            return String(base.dropLast(suffix.count))
        }
        return base
    }
}
