/// Something the caller should know that does not change the decision, e.g. a negative prompt the model
/// ignores or a LoRA weight that was clamped.
public struct Warning: Sendable, Equatable, Codable {
    /// Stable code, e.g. `negative_prompt.ignored`, `lora.clamped`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
