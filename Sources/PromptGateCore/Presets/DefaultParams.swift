/// `default_params` of config.yaml: generation defaults the operator sets for the whole service. Precedence,
/// highest first: the request, the operator's own preset files (`presets:`), `default_params`, the bundled
/// presets' values. So `default_params` retunes every bundled preset (and what extends it) without a preset file.
public struct DefaultParams: Sendable, Equatable {
    /// Sampler steps.
    public var steps: Int?
    /// Guidance scale.
    public var cfgScale: Double?
    /// ComfyUI sampler name.
    public var sampler: String?
    /// ComfyUI scheduler name.
    public var scheduler: String?

    /// - Parameters: each default, nil to leave the presets' value.
    public init(steps: Int? = nil, cfgScale: Double? = nil, sampler: String? = nil, scheduler: String? = nil) {
        self.steps = steps
        self.cfgScale = cfgScale
        self.sampler = sampler
        self.scheduler = scheduler
    }

    /// The values as preset `defaults` YAML (the form presets are merged in), e.g. `steps: 20`.
    var yaml: String {
        var lines: [String] = []
        if let steps { lines.append("steps: \(steps)") }
        if let cfgScale { lines.append("cfg_scale: \(cfgScale)") }
        if let sampler { lines.append("sampler: \(quoted(sampler))") }
        if let scheduler { lines.append("scheduler: \(quoted(scheduler))") }
        return lines.joined(separator: "\n")
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
