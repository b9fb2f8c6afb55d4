/// Something the caller should know that does not change the decision, e.g. a negative prompt the model
/// ignores or a LoRA weight that was clamped.
public struct Warning: Sendable, Equatable, Codable {
    /// Stable code, e.g. `negative_prompt.ignored`, `lora.clamped`.
    public var code: String
    /// A sentence for the caller.
    public var message: String

    /// A warning with a stable `code`.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
