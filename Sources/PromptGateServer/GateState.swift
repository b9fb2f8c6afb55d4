import Foundation
import PromptGateAccess
import PromptGateCore
import Synchronization

/// Everything built from configuration, rule packs and presets that a reload may change: the access rules,
/// one policy+optimizer pipeline per preset. Immutable; a reload builds a new one and swaps it in
/// (`GateStateHolder`); requests in flight keep the one they started with.
public struct GateState: Sendable {
    /// Who may call (the limiter inside is shared across reloads, so a reload does not reset budgets).
    public let access: AccessControl
    /// The pipelines, one per preset.
    public let pipelines: PipelineSet
    /// The loaded presets by name.
    public let presets: [String: Preset]
    /// Rules loaded from the packs.
    public let ruleCount: Int
    /// When this state was built.
    public let loadedAt: Date

    /// Builds from configuration.
    /// - Parameters:
    ///   - config: the service configuration.
    ///   - limiter: the rate limiter's state, kept across reloads.
    ///   - authFailures: failed key checks per address, kept across reloads.
    ///   - defaultPreset: the preset used when neither the request nor its key names one.
    ///   - model: what the bound workflow says about its model; it replaces every preset's `model` section
    ///     (guidance, real CFG, negative input, name), since the graph decides what a request can do.
    /// - Throws: on any rule, preset or stage problem (the old state stays in use).
    public static func build(
        config: ServiceConfig, limiter: RateLimiter, authFailures: RateLimiter, defaultPreset: String,
        model: ModelProfile? = nil
    ) throws -> GateState {
        let policy = PolicyConfig(rulePaths: config.rulePaths)
        var presets = try PresetLoader.load(paths: config.presetPaths, defaults: config.defaultParams)
        if let model {
            for name in presets.keys { presets[name]?.model = model }
        }
        let pipelines = try PipelineBuilder(config: policy).build(presets: presets, defaultPreset: defaultPreset)
        let security = config.security
        let access = AccessControl(
            allowlist: security.ipAllowlist, keys: APIKeyStore(keys: security.apiKeys), requiresKey: security.enabled,
            limiter: security.rateLimitEnabled ? limiter : nil, policy: security.rateLimit,
            ipv6Prefix: security.ipv6Prefix, authFailures: authFailures, metricsKey: security.metricsKey,
            sharesLimits: config.dispatch.storeURL != nil)
        return GateState(
            access: access, pipelines: pipelines, presets: presets, ruleCount: pipelines.packRuleCount, loadedAt: Date()
        )
    }
}

/// Holds the current `GateState`; requests take a snapshot, reloads swap it atomically.
public final class GateStateHolder: Sendable {
    private let state: Mutex<GateState>

    /// - Parameter state: the first state.
    public init(_ state: GateState) { self.state = Mutex(state) }

    /// The state now.
    public var current: GateState { state.withLock { $0 } }

    /// Swaps in a new state.
    public func replace(with new: GateState) { state.withLock { $0 = new } }
}
