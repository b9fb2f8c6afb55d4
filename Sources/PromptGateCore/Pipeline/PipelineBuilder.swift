/// Policy settings the pipeline is built from; every field has a default.
public struct PolicyConfig: Sendable, Equatable {
    /// Stage names, in order. Known: `length`, `blocklist`.
    public var stages: [String]
    /// Rule pack files or folders; empty means the bundled packs.
    public var rulePaths: [String]
    public var lengthLimits: [PromptField: LengthLimit]
    public var matchLimit: UInt32

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

    public static let defaultStages = ["length", "blocklist"]
}

/// A stage name the builder does not know.
public struct UnknownStageError: PromptGateError {
    public var name: String
    public var code: String { "config.unknown_stage" }
    public var httpStatus: Int { 500 }
    public var message: String {
        "unknown stage '\(name)' (known: \(PipelineBuilder.knownStages.joined(separator: ", ")))"
    }
}

/// Builds a frozen `Pipeline` from configuration: loads and compiles what the stages need, validates once.
public struct PipelineBuilder {
    public static let knownStages = ["length", "blocklist"]

    public var config: PolicyConfig

    public init(config: PolicyConfig = PolicyConfig()) { self.config = config }

    /// Loads the rule packs and builds the stages in the configured order.
    public func build() throws -> Pipeline {
        var rules: RuleSet? = nil
        var stages: [any Stage] = []
        for name in config.stages {
            switch name {
            case "length":
                stages.append(LengthFilter(limits: config.lengthLimits))
            case "blocklist":
                if rules == nil { rules = try RuleSet.load(paths: config.rulePaths, matchLimit: config.matchLimit) }
                stages.append(BlocklistFilter(rules: rules!))
            default:
                throw UnknownStageError(name: name)
            }
        }
        return Pipeline(stages: stages)
    }
}
