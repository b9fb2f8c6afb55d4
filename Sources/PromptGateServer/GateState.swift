import Synchronization
import Foundation
import PromptGateAccess
import PromptGateCore

/// Everything built from the rule packs and presets: the access pipeline in front, one policy+optimizer
/// pipeline per preset. Immutable; a reload builds a new one and swaps it in (`GateStateHolder`).
public struct GateState: Sendable {
    public let access: Pipeline
    /// Access for reading tasks and images: the address and key checks without the rate limit (polling a
    /// task must not use up the budget for new prompts).
    public let readAccess: Pipeline
    public let pipelines: PipelineSet
    public let presets: [String: Preset]
    public let ruleCount: Int
    public let loadedAt: Date

    /// Builds from configuration; throws on any rule, preset or stage problem (the old state stays in use).
    public static func build(config: ServiceConfig, limiter: RateLimiter) throws -> GateState {
        let policy = PolicyConfig(rulePaths: config.rulePaths)
        let presets = try PresetLoader.load(paths: config.presetPaths)
        let pipelines = try PipelineBuilder(config: policy).build(presets: presets, defaultPreset: config.defaultPreset)
        let ruleCount = pipelines.packRuleCount
        var stages: [any Stage] = []
        let security = config.security
        if !security.ipAllowlist.isEmpty { stages.append(IPAllowStage(allowed: security.ipAllowlist)) }
        if security.enabled { stages.append(APIKeyStage(store: APIKeyStore(keys: security.apiKeys))) }
        let readAccess = Pipeline(stages: stages)
        if security.rateLimitEnabled {
            var policies: [String: RateLimitPolicy] = [:]
            for key in security.apiKeys { if let policy = key.rateLimit { policies[key.name] = policy } }
            stages.append(RateLimitStage(limiter: limiter, policy: security.rateLimit, policies: policies))
        }
        return GateState(access: Pipeline(stages: stages), readAccess: readAccess, pipelines: pipelines, presets: presets, ruleCount: ruleCount, loadedAt: Date())
    }
}

/// Holds the current `GateState`; requests take a snapshot, reloads swap it atomically.
public final class GateStateHolder: Sendable {
    private let state: Mutex<GateState>
    public init(_ state: GateState) { self.state = Mutex(state) }
    public var current: GateState { state.withLock { $0 } }
    public func replace(with new: GateState) { state.withLock { $0 = new } }
}
