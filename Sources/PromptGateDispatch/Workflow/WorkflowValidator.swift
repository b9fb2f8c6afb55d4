import PromptGateCore

/// Checks a bound workflow against a backend's `/object_info` before any task is sent there: every
/// `class_type` installed, every literal combo value (checkpoint, VAE, Nunchaku model path, LoRA, sampler...)
/// in the list the server offers, and every sampler and scheduler a preset may ask for available. A problem
/// makes that backend ineligible (with the reason in `/status`); it is not a crash. LoRA files the presets name
/// are listed apart (`missingLoras`): a backend lacking one still runs requests that do not need it.
public enum WorkflowValidator {
    /// One thing the backend lacks.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// What is missing, as the stable code the backend's reason carries.
        public enum Kind: String, Sendable {
            /// A node class is not installed.
            case missingNode = "backend.missing_nodes"
            /// A model, LoRA or other file is not there.
            case missingFile = "backend.missing_files"
            /// A combo value that is not a file (sampler, scheduler, attention mode) is not offered.
            case unsupportedValue = "backend.unsupported_value"
        }

        /// What is missing.
        public var kind: Kind
        /// The sentence, naming node, input, value and the server's choices.
        public var description: String
    }

    /// Everything the backend lacks; empty when it can run the workflow.
    public static func problems(
        _ workflow: Workflow, objectInfo: [String: JSONValue], requirements: BackendRequirements = .init()
    ) -> [Problem] {
        var problems: [Problem] = []
        for id in workflow.nodes.keys.sorted(by: Workflow.idOrder) {
            let node = workflow.nodes[id]!
            guard case .object(let info)? = objectInfo[node.classType] else {
                problems.append(
                    Problem(
                        kind: .missingNode,
                        description: "node \(id): class \(node.classType) is not installed on this server"))
                continue
            }
            for (name, value) in node.inputs.sorted(by: { $0.key < $1.key }) {
                guard case .string(let text) = value, let options = comboOptions(info, input: name),
                    !options.contains(text)
                else { continue }
                problems.append(
                    Problem(
                        kind: isFile(input: name, value: text) ? .missingFile : .unsupportedValue,
                        description:
                            "node \(id) (\(node.classType)): \(name) '\(text)' is not on this server (\(choices(options)))"
                    ))
            }
        }
        for (input, wanted) in [("sampler_name", requirements.samplers), ("scheduler", requirements.schedulers)] {
            // The node that takes the value in this graph (KSampler, KSamplerSelect, BasicScheduler).
            guard
                let id = workflow.nodes.keys.sorted(by: Workflow.idOrder).first(where: {
                    workflow.nodes[$0]?.inputs[input] != nil
                }), case .object(let info)? = objectInfo[workflow.nodes[id]!.classType],
                let options = comboOptions(info, input: input)
            else { continue }
            for value in wanted where !options.contains(value) {
                problems.append(
                    Problem(
                        kind: .unsupportedValue,
                        description:
                            "\(input) '\(value)' a preset allows is not on this server (node \(id) \(workflow.nodes[id]!.classType): \(choices(options)))"
                    ))
            }
        }
        return problems
    }

    /// The LoRA files presets may ask for (`requirements.loraFiles`) that the backend's LoRA loader does not
    /// list. They do not make the backend ineligible: it still runs every request that needs none of them, and
    /// the scheduler sends the others elsewhere (`BackendPool.acquire(needing:)`). Empty when the graph has no
    /// LoRA loader class the server knows.
    public static func missingLoras(
        _ workflow: Workflow, objectInfo: [String: JSONValue], requirements: BackendRequirements
    ) -> Set<String> {
        var missing = Set<String>()
        for loader in ["NunchakuFluxLoraLoader", "LoraLoader"]
        where !workflow.nodes(of: loader).isEmpty || hasBase(workflow, for: loader) {
            guard case .object(let info)? = objectInfo[loader], let options = comboOptions(info, input: "lora_name")
            else { continue }
            for file in requirements.loraFiles where !options.contains(file) { missing.insert(file) }
        }
        return missing
    }

    /// The backend's reason for a list of problems: the gravest kind as the code, the first five sentences as
    /// the message, every sentence in the details. Nil when there are none.
    public static func reason(for problems: [Problem]) -> TaskReason? {
        guard !problems.isEmpty else { return nil }
        let kind =
            [Problem.Kind.missingNode, .missingFile, .unsupportedValue].first { kind in
                problems.contains { $0.kind == kind }
            } ?? .missingFile
        let message =
            problems.prefix(5).map(\.description).joined(separator: "; ")
            + (problems.count > 5 ? "; and \(problems.count - 5) more" : "")
        return TaskReason(
            code: kind.rawValue, message: message,
            details: ["problems": .array(problems.map { .string($0.description) })])
    }

    /// Whether a combo input takes a file name (model folders) rather than a plain option.
    static func isFile(input: String, value: String) -> Bool {
        input.hasSuffix("_name") && input != "sampler_name" || input == "model_path" || input.hasPrefix("text_encoder")
            || value.hasSuffix(".safetensors") || value.hasSuffix(".ckpt") || value.hasSuffix(".pt")
            || value.hasSuffix(".gguf")
    }

    /// The server's choices for a sentence: all of up to 10, else the first 10 and how many more.
    static func choices(_ options: [String]) -> String {
        guard !options.isEmpty else { return "it offers none" }
        let shown = options.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        return "choices: " + shown + (options.count > 10 ? " and \(options.count - 10) more" : "")
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
