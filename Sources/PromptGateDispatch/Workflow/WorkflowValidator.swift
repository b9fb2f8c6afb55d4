import PromptGateCore

/// Checks a bound workflow against a backend's `/object_info` before any task is sent there: every
/// `class_type` installed, every literal combo value (checkpoint, VAE, Nunchaku model path, LoRA, sampler...)
/// in the list the server offers, and every LoRA file a preset may ask for available to the graph's loader.
/// A problem makes that backend ineligible (with the reason in `/status`); it is not a crash.
public enum WorkflowValidator {
    /// Human-readable problems; empty when the backend can run the workflow.
    public static func problems(_ workflow: Workflow, objectInfo: [String: JSONValue], loraFiles: [String] = [])
        -> [String]
    {
        var problems: [String] = []
        for id in workflow.nodes.keys.sorted(by: Workflow.idOrder) {
            let node = workflow.nodes[id]!
            guard case .object(let info)? = objectInfo[node.classType] else {
                problems.append("node \(id): class \(node.classType) is not installed on this server")
                continue
            }
            for (name, value) in node.inputs.sorted(by: { $0.key < $1.key }) {
                guard case .string(let text) = value, let options = comboOptions(info, input: name) else { continue }
                if !options.contains(text) {
                    problems.append(
                        "node \(id) (\(node.classType)): \(name) '\(text)' is not on this server (\(options.count) choices)"
                    )
                }
            }
        }
        for loader in ["NunchakuFluxLoraLoader", "LoraLoader"]
        where !workflow.nodes(of: loader).isEmpty || hasBase(workflow, for: loader) {
            guard case .object(let info)? = objectInfo[loader], let options = comboOptions(info, input: "lora_name")
            else { continue }
            for file in loraFiles where !options.contains(file) {
                problems.append("LoRA file '\(file)' is not on this server (\(loader).lora_name)")
            }
        }
        return problems
    }

    private static func hasBase(_ workflow: Workflow, for loader: String) -> Bool {
        let base = loader == "LoraLoader" ? "CheckpointLoaderSimple" : "NunchakuFluxDiTLoader"
        return !workflow.nodes(of: base).isEmpty
    }

    /// The allowed values of a combo input, in either of the two shapes ComfyUI uses:
    /// V1 `[["a", "b"], {...}]`, V3 `["COMBO", {"options": ["a", "b"]}]`.
    static func comboOptions(_ info: [String: JSONValue], input: String) -> [String]? {
        guard case .object(let inputs)? = info["input"] else { return nil }
        for section in ["required", "optional"] {
            guard case .object(let specs)? = inputs[section], case .array(let spec)? = specs[input],
                let first = spec.first
            else { continue }
            if case .array(let values) = first {
                return values.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            if first == "COMBO", spec.count > 1, case .object(let options) = spec[1],
                case .array(let values)? = options["options"]
            {
                return values.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
        }
        return nil
    }
}
