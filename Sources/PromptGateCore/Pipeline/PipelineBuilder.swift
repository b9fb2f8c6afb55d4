/// Policy settings the pipeline is built from; every field has a default.
public struct PolicyConfig: Sendable, Equatable {
    /// Stage names, in order. Known: `length`, `blocklist`.
    public var stages: [String]
    /// Rule pack files or folders; empty means the bundled packs.
    public var rulePaths: [String]
    /// Length limits by field.
    public var lengthLimits: [PromptField: LengthLimit]
    /// PCRE2's match limit per scan (a pattern that needs more fails closed).
    public var matchLimit: UInt32

    /// A configuration; every value left out is the default.
    public init(
        stages: [String] = PolicyConfig.defaultStages, rulePaths: [String] = [],
        lengthLimits: [PromptField: LengthLimit] = [.prompt: .defaultPrompt, .negativePrompt: .defaultNegativePrompt],
        matchLimit: UInt32 = RuleSet.defaultMatchLimit
    ) {
        self.stages = stages
        self.rulePaths = rulePaths
        self.lengthLimits = lengthLimits
        self.matchLimit = matchLimit
    }

    /// `length`, then `blocklist`.
    public static let defaultStages = ["length", "blocklist"]
}

/// A stage name the builder does not know.
public struct UnknownStageError: PromptGateError {
    /// The unknown name.
    public var name: String
    /// Always `config.unknown_stage`.
    public var code: String { "config.unknown_stage" }
    /// A configuration mistake: internal to callers.
    public var kind: ErrorKind { .internal }
    /// Names the stage and the known ones.
    public var message: String {
        "unknown stage '\(name)' (known: \(PipelineBuilder.knownStages.joined(separator: ", ")))"
    }
}

/// Builds frozen pipelines from configuration: loads and compiles what the stages need, validates once.
public struct PipelineBuilder {
    /// The policy stages it can build.
    public static let knownStages = ["length", "blocklist"]

    /// What it builds from.
    public var config: PolicyConfig

    /// A builder for `config`.
    public init(config: PolicyConfig = PolicyConfig()) { self.config = config }

    /// The policy pipeline alone (no optimizers): loads the rule packs and builds the configured stages.
    public func build() throws -> Pipeline {
        try Pipeline(
            stages: policyStages(rules: { try RuleSet.load(paths: config.rulePaths, matchLimit: config.matchLimit) }))
    }

    /// One pipeline per preset: policy (with the preset's brand rules added to the packs), request
    /// validation, then the preset's optimizers in its order.
    /// - Parameter presets: loaded presets (`PresetLoader.load`).
    /// - Parameter defaultPreset: used when a request names none.
    public func build(presets: [String: Preset], defaultPreset: String) throws -> PipelineSet {
        guard presets[defaultPreset] != nil else {
            throw RequestError.unknownName("preset", defaultPreset, known: Array(presets.keys))
        }
        let packs =
            config.rulePaths.isEmpty ? try BundledRules.definitions() : try RulePackLoader.load(paths: config.rulePaths)
        let shared = try RuleSet.compile(packs, matchLimit: config.matchLimit)
        var pipelines: [String: Pipeline] = [:]
        for (name, preset) in presets {
            let rules =
                preset.rules.isEmpty ? shared : try RuleSet.compile(packs + preset.rules, matchLimit: config.matchLimit)
            var stages = try policyStages(rules: { rules })
            stages.append(RequestValidationStage(preset: preset))
            for optimizer in preset.optimizers {
                guard let stage = Self.optimizer(named: optimizer, preset: preset) else {
                    throw UnknownStageError(name: optimizer)
                }
                stages.append(stage)
            }
            pipelines[name] = Pipeline(stages: stages)
        }
        return PipelineSet(pipelines: pipelines, defaultPreset: defaultPreset, packRuleCount: packs.count)
    }

    private func policyStages(rules: () throws -> RuleSet) throws -> [any Stage] {
        var loaded: RuleSet? = nil
        var stages: [any Stage] = []
        for name in config.stages {
            switch name {
            case "length":
                stages.append(LengthFilter(limits: config.lengthLimits))
            case "blocklist":
                if loaded == nil { loaded = try rules() }
                stages.append(BlocklistFilter(rules: loaded!))
            default:
                throw UnknownStageError(name: name)
            }
        }
        return stages
    }

    /// The optimizer stage for a name from `Preset.optimizerNames` (validated when the preset loaded).
    static func optimizer(named name: String, preset: Preset) -> (any Stage)? {
        switch name {
        case "lora_tags": LoraTagStage(preset: preset)
        case "template": TemplateStage(preset: preset)
        case "style": StyleStage(preset: preset)
        case "quality": QualityStage(preset: preset)
        case "negative": NegativePromptStage(preset: preset)
        case "lora_weights": LoraWeightStage(preset: preset)
        case "defaults": DefaultsStage(preset: preset)
        default: nil
        }
    }
}

/// The pipelines of every preset; a request picks one with its `preset` field.
public struct PipelineSet: Sendable {
    /// The pipeline of each preset, by preset name.
    public let pipelines: [String: Pipeline]
    /// The preset used when neither the request nor its caller names one.
    public let defaultPreset: String
    /// Rules loaded from the packs (brand rules of presets not counted).
    public let packRuleCount: Int

    /// The one place a request's preset is decided: the request's own `preset`, else the one its caller's
    /// key selects (written into the request, so answers show it), else the default.
    /// - Returns: the preset's name and its pipeline.
    /// - Throws: `RequestError` on field `preset` when that names a preset that is not loaded.
    public func select(for request: inout PromptRequest, caller: Caller) throws(RequestError) -> (
        preset: String, pipeline: Pipeline
    ) {
        if request.preset == nil { request.preset = caller.preset }
        let name = request.preset ?? defaultPreset
        guard let pipeline = pipelines[name] else {
            throw .unknownName("preset", name, known: Array(pipelines.keys))
        }
        return (name, pipeline)
    }

    /// The pipeline for a request without a caller (`select` with an anonymous one).
    /// - Throws: `RequestError` on field `preset` when the request names a preset that is not loaded.
    public func pipeline(for request: PromptRequest) throws(RequestError) -> Pipeline {
        var request = request
        return try select(for: &request, caller: Caller()).pipeline
    }
}
