/// The PromptGate release, shown by `promptgate --version` (and later by `/status`).
public enum PromptGateVersion {
    /// The version `--version`, `/health` and the OpenAPI document report.
    public static let current = "0.1.0"
}
