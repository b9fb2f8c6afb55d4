/// What the presets may ask a backend for beyond the workflow's own values: LoRA files, samplers and
/// schedulers. A backend whose `/object_info` lacks one is ineligible (see `WorkflowValidator`).
public struct BackendRequirements: Sendable, Equatable {
    /// LoRA files a preset can resolve a name to, plus `models.loras` (file names as ComfyUI lists them).
    public var loraFiles: [String]
    /// Samplers the presets allow or default to.
    public var samplers: [String]
    /// Schedulers the presets allow or default to.
    public var schedulers: [String]

    /// - Parameters:
    ///   - loraFiles: LoRA files.
    ///   - samplers: sampler names.
    ///   - schedulers: scheduler names.
    public init(loraFiles: [String] = [], samplers: [String] = [], schedulers: [String] = []) {
        self.loraFiles = loraFiles
        self.samplers = samplers
        self.schedulers = schedulers
    }
}
