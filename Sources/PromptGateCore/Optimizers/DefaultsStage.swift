import Glibc

/// Fills what the request left out from the preset: width, height, steps, cfg, sampler, scheduler; picks a random
/// seed (0…`PromptRequest.maxSeed`) when none was given, so the output records the seed that will be used.
public struct DefaultsStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "defaults"
    /// The preset whose defaults it fills in.
    public let preset: Preset

    /// A stage for `preset`.
    public init(preset: Preset) { self.preset = preset }

    /// Fills the parameters the request left out, then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        var filled: [String] = []
        let defaults = preset.defaults
        // A missing side takes the default, as validation assumed when it checked the pixel budget.
        if context.request.width == nil { context.request.width = defaults.width; filled.append("width") }
        if context.request.height == nil { context.request.height = defaults.height; filled.append("height") }
        if context.request.steps == nil { context.request.steps = defaults.steps; filled.append("steps") }
        if context.request.cfgScale == nil { context.request.cfgScale = defaults.cfgScale; filled.append("cfg_scale") }
        if context.request.sampler == nil { context.request.sampler = defaults.sampler; filled.append("sampler") }
        if context.request.scheduler == nil {
            context.request.scheduler = defaults.scheduler; filled.append("scheduler")
        }
        if context.request.seed == nil {
            // glibc's arc4random: a per-thread ChaCha20 stream, no system call per seed (UInt32.random asks
            // the kernel every time, which was most of this stage's cost).
            context.request.seed = (UInt64(arc4random()) << 32 | UInt64(arc4random())) & PromptRequest.maxSeed
            filled.append("seed")
        }
        if context.request.preset == nil { context.request.preset = preset.name }
        if !filled.isEmpty { context.note("filled \(filled.joined(separator: ", "))") }
        try next(context)
    }
}
