import Logging

/// Runs the compiled rule packs over every field on its normalized views. Block hits stop the pipeline;
/// flag hits are recorded and the request goes on. A PCRE2 engine error blocks (fail closed) with reason
/// `policy.engine_error`.
public struct BlocklistFilter: Stage {
    public let name = "blocklist"
    public let rules: RuleSet

    public init(rules: RuleSet) { self.rules = rules }

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
