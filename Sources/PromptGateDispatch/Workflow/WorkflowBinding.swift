import PromptGateCore

/// Where each request field goes in a workflow: a list of (node id, input name) per field, found by
/// following the graph from the sampler, and overridable by configuration.
///
/// Supported samplers: `KSampler`/`KSamplerAdvanced` (seed, steps, cfg, sampler_name, scheduler, positive,
/// negative, latent_image) and `SamplerCustomAdvanced` with `RandomNoise`, `BasicScheduler`, `KSamplerSelect`,
/// `BasicGuider` or `CFGGuider`, and `FluxGuidance` (its `guidance` takes `cfg_scale`).
public struct WorkflowBinding: Sendable, Equatable, CustomStringConvertible {
    /// A request field a workflow input can take.
    public enum Field: String, Sendable, CaseIterable, Comparable {
        case prompt, negativePrompt = "negative_prompt", seed, steps, cfgScale = "cfg_scale", sampler, scheduler, width,
            height, batchSize = "batch_size", filenamePrefix = "filename_prefix"

        /// Orders fields as declared.
        public static func < (lhs: Field, rhs: Field) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// A node input.
    public struct Input: Sendable, Hashable, CustomStringConvertible {
        /// The node id.
        public var node: String
        /// The input's name on that node.
        public var input: String
        /// The input `input` of node `node`.
        public init(node: String, input: String) {
            self.node = node
            self.input = input
        }
        /// `node.input`.
        public var description: String { "\(node).\(input)" }
    }

    /// Where each field goes (a field may feed several inputs).
    public var inputs: [Field: [Input]]

    /// A binding given in full (configuration), e.g. for a graph whose sampler cannot be inferred.
    public init(inputs: [Field: [Input]]) {
        self.inputs = inputs
    }

    /// What is wrong with the binding for this workflow: inputs that do not exist, required fields missing.
    public func problems(in workflow: Workflow) -> [String] {
        var problems: [String] = []
        for field in inputs.keys.sorted() {
            for input in inputs[field] ?? [] {
                guard let node = workflow.nodes[input.node] else {
                    problems.append("\(field.rawValue): node \(input.node) is not in the workflow")
                    continue
                }
                if node.inputs[input.input] == nil {
                    problems.append(
                        "\(field.rawValue): node \(input.node) (\(node.classType)) has no input '\(input.input)'")
                }
            }
        }
        if inputs[.filenamePrefix]?.isEmpty ?? true { problems.append("filename_prefix: no SaveImage input is bound") }
        return problems
    }

    /// What works but may surprise: a graph with no prompt input bound runs every request's screening and
    /// optimizing, but the prompt text reaches no node.
    public var warnings: [String] {
        guard inputs[.prompt]?.isEmpty ?? true else { return [] }
        return [
            "prompt: no text encoder input is bound (the workflow has none feeding the sampler); prompts are screened but do not reach the graph"
        ]
    }

    /// Infers the binding from the workflow's sampler.
    /// - Throws: `WorkflowError` when there is no (or more than one) supported sampler or no SaveImage node.
    ///   A graph without a text encoder is bound without a prompt (see `warnings`).
    public init(inferringFrom workflow: Workflow) throws(WorkflowError) {
        var inputs: [Field: [Input]] = [:]
        func add(_ field: Field, _ node: String?, _ input: String) {
            guard let node, workflow.nodes[node]?.inputs[input] != nil else { return }
            let entry = Input(node: node, input: input)
            if !(inputs[field]?.contains(entry) ?? false) { inputs[field, default: []].append(entry) }
        }
        /// The text encoder a conditioning link comes from, looking through FluxGuidance.
        func encoder(from node: String?) -> String? {
            var current = node
            var hops = 0
            while let id = current, let candidate = workflow.nodes[id], hops < 8 {
                if candidate.inputs["text"] != nil { return id }
                current = workflow.link(id, "conditioning")?.node
                hops += 1
            }
            return nil
        }
        let classic = workflow.nodes(of: "KSampler") + workflow.nodes(of: "KSamplerAdvanced")
        let custom = workflow.nodes(of: "SamplerCustomAdvanced")
        guard classic.count + custom.count == 1 else {
            throw WorkflowError(
                code: "workflow.no_sampler",
                message: classic.count + custom.count == 0
                    ? "the workflow has no KSampler or SamplerCustomAdvanced node to bind to"
                    : "the workflow has \(classic.count + custom.count) samplers; give workflow.bindings explicitly")
        }
        var latent: String?
        if let sampler = classic.first {
            add(.seed, sampler, "seed")
            add(.seed, sampler, "noise_seed")
            add(.steps, sampler, "steps")
            add(.cfgScale, sampler, "cfg")
            add(.sampler, sampler, "sampler_name")
            add(.scheduler, sampler, "scheduler")
            add(.prompt, encoder(from: workflow.link(sampler, "positive")?.node), "text")
            add(.negativePrompt, encoder(from: workflow.link(sampler, "negative")?.node), "text")
            latent = workflow.link(sampler, "latent_image")?.node
        } else if let sampler = custom.first {
            add(.seed, workflow.link(sampler, "noise")?.node, "noise_seed")
            let sigmas = workflow.link(sampler, "sigmas")?.node
            add(.steps, sigmas, "steps")
            add(.scheduler, sigmas, "scheduler")
            add(.sampler, workflow.link(sampler, "sampler")?.node, "sampler_name")
            if let guider = workflow.link(sampler, "guider")?.node {
                if let conditioning = workflow.link(guider, "conditioning")?.node {
                    // BasicGuider: one conditioning; FluxGuidance on the way holds the guidance value.
                    if workflow.nodes[conditioning]?.classType == "FluxGuidance" {
                        add(.cfgScale, conditioning, "guidance")
                    }
                    add(.prompt, encoder(from: conditioning), "text")
                } else {
                    add(.cfgScale, guider, "cfg")
                    add(.prompt, encoder(from: workflow.link(guider, "positive")?.node), "text")
                    add(.negativePrompt, encoder(from: workflow.link(guider, "negative")?.node), "text")
                }
            }
            latent = workflow.link(sampler, "latent_image")?.node
        }
        add(.width, latent, "width")
        add(.height, latent, "height")
        add(.batchSize, latent, "batch_size")
        // Every other node holding a literal width and height must agree (ModelSamplingFlux in FLUX graphs).
        for (id, node) in workflow.nodes.sorted(by: { Workflow.idOrder($0.key, $1.key) }) {
            if case .number? = node.inputs["width"], case .number? = node.inputs["height"] {
                add(.width, id, "width")
                add(.height, id, "height")
            }
        }
        for save in workflow.nodes(of: "SaveImage") { add(.filenamePrefix, save, "filename_prefix") }
        guard inputs[.filenamePrefix] != nil else {
            throw WorkflowError(code: "workflow.no_output", message: "the workflow has no SaveImage node")
        }
        // A graph without a text encoder (image-to-image, upscaling) binds no prompt: see `warnings`.
        self.inputs = inputs
    }

    /// The binding with some fields replaced (configuration's explicit `workflow.bindings`).
    public func overriding(_ explicit: [Field: [Input]]) -> WorkflowBinding {
        var copy = self
        for (field, list) in explicit { copy.inputs[field] = list }
        return copy
    }

    /// One line per field, for the start-up report: `prompt → 6.text`.
    public var description: String {
        inputs.keys.sorted().map { "\($0.rawValue) → \(inputs[$0]!.map(\.description).joined(separator: ", "))" }
            .joined(separator: "\n")
    }
}
