/// The PromptGate release, shown by `promptgate --version` (and later by `/status`).
public enum PromptGateVersion {
    public static let current = "0.1.0"
}
