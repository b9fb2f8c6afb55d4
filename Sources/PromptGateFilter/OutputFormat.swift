import PromptGateCore
/// How `promptgate filter` renders verdicts.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// One JSON verdict record per input line, in input order.
    case jsonl
    /// Only the prompts that pass (like `grep -v`), as they came in.
    case text
}

/// Which decisions to keep in the output.
public enum OutputSelection: String, Sendable, CaseIterable {
    /// Let-through prompts: `allow` and `flag`.
    case allow
    /// Only flagged prompts.
    case flag
    /// Only blocked prompts.
    case block

    func keeps(_ decision: Decision) -> Bool {
        switch self {
        case .allow: decision != .block
        case .flag: decision == .flag
        case .block: decision == .block
        }
    }
}
