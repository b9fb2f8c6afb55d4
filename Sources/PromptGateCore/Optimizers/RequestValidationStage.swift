/// Checks the request against the preset's bounds before any optimizer runs: sizes within bounds, a
/// multiple of the grid and within the pixel budget; steps, cfg, sampler, scheduler; LoRA names and
/// weights; style and template names. Throws `RequestError` naming the field (HTTP 422).
public struct RequestValidationStage: Stage {
    /// The stage's name in traces.
    public let name = "validate"
    /// The preset whose limits the request must respect.
    public let preset: Preset

    /// A stage for `preset`.
    public init(preset: Preset) { self.preset = preset }

    /// Refuses parameters outside the preset's limits (naming the field), else runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        try Self.resolveLoras(context, preset: preset)
        try Self.validate(context.request, preset: preset)
        if let warning = Self.guidanceWarning(context.request.cfgScale, preset: preset) {
            context.warnings.append(warning)
        }
        try next(context)
    }

    /// `cfg_scale.flux_guidance`: a classic CFG value (7.5 is the SD habit) sent to a guidance-distilled FLUX
    /// graph, where it is the FluxGuidance value, not CFG.
    static func guidanceWarning(_ cfgScale: Double?, preset: Preset) -> Warning? {
        let model = preset.model
        guard model.guidance == .flux, let cfgScale, cfgScale > ModelProfile.fluxGuidanceWarningAbove else {
            return nil
        }
        return Warning(
            code: "cfg_scale.flux_guidance",
            message:
                "cfg_scale \(LoRA.format(cfgScale)) is the FLUX guidance value for this workflow (FluxGuidance; the "
                + "graph's real CFG is \(LoRA.format(model.trueCFG))), not classic CFG: \(model.name) was distilled "
                + "around \(LoRA.format(preset.defaults.cfgScale)) and its images burn out (over-saturated colour, "
                + "waxy skin) from about 7; SD-style values do not carry over, use 2-\(LoRA.format(ModelProfile.fluxGuidanceWarningAbove))"
        )
    }

    /// Renames each requested LoRA to the preset's alias for it (a client may name the file or its stem, in
    /// any case: `FLUX.1-Turbo-Alpha` is `turbo-alpha`), noting what it renamed.
    static func resolveLoras(_ context: PromptContext, preset: Preset) throws(RequestError) {
        var renamed: [String] = []
        for index in context.request.loras.indices {
            let name = context.request.loras[index].name
            guard let alias = preset.loras.alias(for: name) else {
                throw .unknownName("loras[\(index)].name", name, known: preset.loras.knownNames)
            }
            if alias != name {
                context.request.loras[index].name = alias
                renamed.append("\(name) → \(alias)")
            }
        }
        if !renamed.isEmpty { context.note("LoRA names resolved: \(renamed.joined(separator: ", "))") }
    }

    static func validate(_ request: PromptRequest, preset: Preset) throws(RequestError) {
        let limits = preset.limits
        if let width = request.width { try check(width, "width", limits.width, multiple: limits.multipleOf) }
        if let height = request.height { try check(height, "height", limits.height, multiple: limits.multipleOf) }
        if request.width != nil || request.height != nil {
            let width = request.width ?? preset.defaults.width, height = request.height ?? preset.defaults.height
            if width * height > limits.maxPixels {
                throw .outOfRange(
                    request.width != nil ? "width" : "height",
                    "gives \(width)×\(height) = \(width * height) pixels, over the budget of \(limits.maxPixels)")
            }
        }
        if let steps = request.steps, !limits.steps.contains(steps) {
            throw .outOfRange(
                "steps", "must be between \(limits.steps.lowerBound) and \(limits.steps.upperBound), found \(steps)")
        }
        if let cfg = request.cfgScale, !limits.cfgScale.contains(cfg) {
            throw .outOfRange(
                "cfg_scale",
                "must be between \(limits.cfgScale.lowerBound) and \(limits.cfgScale.upperBound), found \(cfg)")
        }
        if let sampler = request.sampler, !limits.samplers.isEmpty, !limits.samplers.contains(sampler) {
            throw .unknownName("sampler", sampler, known: limits.samplers)
        }
        if let scheduler = request.scheduler, !limits.schedulers.isEmpty, !limits.schedulers.contains(scheduler) {
            throw .unknownName("scheduler", scheduler, known: limits.schedulers)
        }
        for (index, lora) in request.loras.enumerated() { try check(lora, field: "loras[\(index)]", preset: preset) }
        if let style = request.style, preset.styles[style] == nil {
            throw .unknownName("style", style, known: Array(preset.styles.keys))
        }
        if let template = request.template, preset.templates[template] == nil {
            throw .unknownName("template", template, known: Array(preset.templates.keys))
        }
    }

    /// A LoRA's name must be one the preset offers and its weight finite.
    static func check(_ lora: LoRA, field: String, preset: Preset) throws(RequestError) {
        if preset.loras.available[lora.name] == nil {
            throw .unknownName("\(field).name", lora.name, known: preset.loras.knownNames)
        }
        guard lora.weight.isFinite else { throw .outOfRange("\(field).weight", "must be finite") }
    }

    private static func check(_ value: Int, _ field: String, _ range: ClosedRange<Int>, multiple: Int)
        throws(RequestError)
    {
        guard range.contains(value) else {
            throw .outOfRange(field, "must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        guard value % multiple == 0 else {
            throw .outOfRange(field, "must be a multiple of \(multiple), found \(value)")
        }
    }
}
