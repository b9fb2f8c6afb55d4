import Logging

/// Runs the compiled rule packs over every field on its normalized views. Block hits stop the pipeline;
/// flag hits are recorded and the request goes on. A PCRE2 engine error blocks (fail closed) with reason
/// `policy.engine_error`.
public struct BlocklistFilter: Stage {
    /// The stage's name in traces and configuration.
    public let name = "blocklist"
    /// The compiled rule packs it scans with.
    public let rules: RuleSet

    /// A filter scanning with `rules`.
    public init(rules: RuleSet) { self.rules = rules }

    /// Scans every prompt field; a blocking hit ends the chain, flags are recorded and `next` runs.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        for field in PromptField.allCases where !context.request[field].isEmpty {
            let result = rules.scan(context.text(field), field: field)
            for hit in result.hits {
                let rule = rules.rules[hit.ruleIndex]
                context.verdict.add(
                    Reason(
                        stage: name, ruleID: rule.id, category: rule.category, severity: rule.severity,
                        action: rule.action, field: field, span: Span(scalars: hit.scalars, utf8: hit.bytes),
                        view: hit.view, matched: hit.matched, normalized: hit.normalized))
            }
            for failure in result.failures {
                context.verdict.add(
                    Reason(
                        stage: name, ruleID: "policy.engine_error", category: "engine", severity: .high, action: .block,
                        field: field, view: failure.view,
                        message: "rule engine error in \(failure.ruleID ?? "term patterns") (\(failure.message)); "
                            + "blocked to fail closed"))
            }
        }
        if context.verdict.isBlocked { return }
        try next(context)
    }
}
