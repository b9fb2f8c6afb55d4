/// Checks every rule's `examples` against the compiled rule set.
///
/// A `match` example must hit its rule; an `allow` example must not hit its rule and must not be blocked by
/// any other loaded rule (a false positive across packs is still a false positive).
public enum RuleTester {
    /// One example that did not behave.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        /// The pack file.
        public var file: String
        /// The rule's id.
        public var ruleID: String
        /// The example text.
        public var example: String
        /// What went wrong ("should match", "should not match").
        public var problem: String

        /// One line naming file, rule, problem and example.
        public var description: String { "\(file): rule \(ruleID): \(problem): '\(example)'" }
    }

    /// Totals of a test run.
    public struct Report: Sendable {
        /// Rules tested.
        public var rules = 0
        /// Examples run.
        public var examples = 0
        /// Examples that failed.
        public var failures: [Failure] = []
    }

    /// Runs every rule's `examples` (must match) and `counter_examples` (must not) against the set.
    public static func run(_ rules: RuleSet) -> Report {
        var report = Report()
        for (index, rule) in rules.rules.enumerated() {
            report.rules += 1
            let field = rule.fields.first ?? .prompt
            for example in rule.matchExamples {
                report.examples += 1
                let result = rules.scan(NormalizedText(example), field: field)
                if !result.hits.contains(where: { $0.ruleIndex == index }) {
                    report.failures.append(
                        Failure(
                            file: rule.source, ruleID: rule.id, example: example, problem: "match example did not match"
                        ))
                }
            }
            for example in rule.allowExamples {
                report.examples += 1
                let result = rules.scan(NormalizedText(example), field: field)
                if let hit = result.hits.first(where: { $0.ruleIndex == index }) {
                    report.failures.append(
                        Failure(
                            file: rule.source, ruleID: rule.id, example: example,
                            problem: "allow example matched (view \(hit.view.rawValue), text '\(hit.matched)')"))
                } else if let hit = result.hits.first(where: { rules.rules[$0.ruleIndex].action == .block }) {
                    report.failures.append(
                        Failure(
                            file: rule.source, ruleID: rule.id, example: example,
                            problem: "allow example is blocked by rule \(rules.rules[hit.ruleIndex].id) "
                                + "(view \(hit.view.rawValue), text '\(hit.matched)')"))
                }
            }
        }
        return report
    }
}
