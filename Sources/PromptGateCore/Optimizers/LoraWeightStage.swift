/// Adds the preset's base LoRAs, then applies its keyword rules: when the prompt mentions a keyword (on
/// the folded text, so case and width tricks do not matter), the LoRAs whose name matches are multiplied,
/// shifted or set; finally every weight is clamped to `limits.lora_weight` (`lora.clamped` warning).
///
/// Reweighting starts from `requested_weight` (recorded on the way out), so optimizing an optimized
/// request changes nothing.
public struct LoraWeightStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "lora_weights"
    /// The preset whose base LoRAs and keyword rules it applies.
    public let preset: Preset
    private let keywords: [PhraseList]

    /// A stage for `preset`.
    public init(preset: Preset) {
        self.preset = preset
        keywords = preset.loras.rules.map { PhraseList($0.keywords) }
    }

    /// Adds the base LoRAs, reweights by keyword rules, clamps the weights, then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        var loras = context.request.loras
        for base in preset.loras.base where !loras.contains(where: { $0.name == base.name }) {
            loras.append(base)
            context.note("base LoRA \(base.summary)")
        }
        guard !loras.isEmpty else { return try next(context) }
        let haystack = context.promptHaystack()
        let active = preset.loras.rules.indices.filter { keywords[$0].matchesAny(in: haystack) }
        let range = preset.limits.loraWeight
        for index in loras.indices {
            let requested = loras[index].requestedWeight ?? loras[index].weight
            guard requested.isFinite else {
                throw RequestError.outOfRange("loras[\(index)].weight", "must be finite")
            }
            var weight = requested
            for rule in active where preset.loras.rules[rule].applies(to: loras[index].name) {
                weight = preset.loras.rules[rule].operation.apply(to: weight)
                context.note(
                    "\(loras[index].name) \(LoRA.format(requested)) → \(LoRA.format(weight)) (keyword rule \(rule + 1))"
                )
            }
            let clamped = min(max(weight, range.lowerBound), range.upperBound)
            if clamped != weight {
                context.warnings.append(
                    Warning(
                        code: "lora.clamped",
                        message:
                            "LoRA '\(loras[index].name)' weight \(LoRA.format(weight)) clamped to \(LoRA.format(clamped)) (range \(range.lowerBound)…\(range.upperBound))"
                    ))
            }
            loras[index].weight = clamped
            loras[index].requestedWeight = clamped == requested ? nil : requested
        }
        context.request.loras = loras
        try next(context)
    }
}
