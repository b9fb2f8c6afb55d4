/// The text fields of a request that stages look at.
public enum PromptField: String, Sendable, Codable, CaseIterable, Hashable {
    case prompt
    case negativePrompt = "negative_prompt"
}
