import Foundation

/// Reads rule packs (YAML) from files, folders or embedded resources into validated `RuleDefinition`s.
///
/// Every problem is collected (file, rule id, key path, message) and the whole load fails if there is any:
/// a broken pack never loads half. Compilation problems (bad PCRE2 patterns) are found by `RuleSet`.
public enum RulePackLoader {
    static let ruleKeys: Set<String> = [
        "id", "category", "severity", "action", "terms", "pattern", "views", "fields", "exceptions",
        "examples", "description",
    ]

    /// Loads every `.yaml`/`.yml` file named or found (non-recursively, sorted) in the given paths.
    public static func load(paths: [String]) throws(RuleLoadError) -> [RuleDefinition] {
        let (sources, problems) = YAMLFiles.read(paths, emptyFolder: "folder holds no .yaml rule packs")
        if !problems.isEmpty { throw RuleLoadError(problems: problems) }
        return try parse(sources: sources)
    }

    /// Parses packs given as (name, YAML text) pairs, checking ids are unique across all of them.
    public static func parse(sources: [(name: String, text: String)]) throws(RuleLoadError) -> [RuleDefinition] {
        var problems: [LoadProblem] = []
        var rules: [RuleDefinition] = []
        var seen: [String: String] = [:]
        for source in sources {
            for rule in parsePack(source.text, file: source.name, problems: &problems) {
                if let other = seen[rule.id] {
                    problems.append(
                        LoadProblem(
                            file: source.name, ruleID: rule.id, keyPath: "id",
                            message: "duplicate rule id (already defined in \(other))"))
                    continue
                }
                seen[rule.id] = source.name
                rules.append(rule)
            }
        }
        if !problems.isEmpty { throw RuleLoadError(problems: problems) }
        return rules
    }

    static func parsePack(_ text: String, file: String, problems: inout [LoadProblem]) -> [RuleDefinition] {
        let root: YAMLCursor
        do {
            guard let parsed = try YAMLCursor.parse(text, file: file) else {
                problems.append(LoadProblem(file: file, keyPath: "", message: "empty file (expected a 'rules:' list)"))
                return []
            }
            root = parsed
        } catch {
            problems.append(contentsOf: error.problems)
            return []
        }
        guard let top = root.mapping(allowed: ["rules", "description"], problems: &problems) else { return [] }
        guard let list = top["rules"] else {
            problems.append(root.problem("missing key 'rules' (a list of rules)"))
            return []
        }
        guard let items = list.sequence(problems: &problems) else { return [] }
        var rules: [RuleDefinition] = []
        for item in items {
            if let rule = parseRule(item, file: file, problems: &problems) { rules.append(rule) }
        }
        return rules
    }

    static func parseRule(_ item: YAMLCursor, file: String, problems: inout [LoadProblem]) -> RuleDefinition? {
        let before = problems.count
        guard let keys = item.mapping(allowed: ruleKeys, problems: &problems) else { return nil }
        var id: String? = nil
        if let cursor = keys["id"], let value = cursor.string(problems: &problems) {
            if value.isEmpty || value.contains(where: { $0.isWhitespace }) {
                problems.append(cursor.problem("rule id must be non-empty and hold no spaces"))
            } else {
                id = value
            }
        } else if keys["id"] == nil {
            problems.append(item.problem("missing key 'id'"))
        }
        func required(_ key: String) -> YAMLCursor? {
            if let cursor = keys[key] { return cursor }
            problems.append(item.problem("missing key '\(key)'", ruleID: id))
            return nil
        }
        func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, default value: E) -> E
        where E.RawValue == String {
            guard let cursor = keys[key], let text = cursor.string(problems: &problems, ruleID: id) else {
                return value
            }
            if let parsed = E(rawValue: text) { return parsed }
            let allowed = E.allCases.map(\.rawValue).joined(separator: " | ")
            problems.append(cursor.problem("'\(text)' is not one of \(allowed)", ruleID: id))
            return value
        }
        let category = required("category")?.string(problems: &problems, ruleID: id) ?? ""
        let severity = enumValue("severity", Severity.self, default: .medium)
        let action = enumValue("action", RuleAction.self, default: .block)
        let terms = keys["terms"]?.strings(problems: &problems, ruleID: id)
        let pattern = keys["pattern"]?.string(problems: &problems, ruleID: id)
        switch (terms, pattern) {
        case (nil, nil):
            problems.append(item.problem("a rule needs 'terms' or 'pattern'", ruleID: id))
        case (.some, .some):
            problems.append(item.problem("give either 'terms' or 'pattern', not both", ruleID: id))
        case (.some(let list), nil):
            if list.isEmpty { problems.append(keys["terms"]!.problem("'terms' is empty", ruleID: id)) }
            for (index, term) in list.enumerated() {
                if let message = TermKey.problem(with: term) {
                    problems.append(
                        LoadProblem(
                            file: file, ruleID: id, keyPath: "\(keys["terms"]!.path)[\(index)]", message: message))
                }
            }
        case (nil, .some(let text)):
            if text.isEmpty { problems.append(keys["pattern"]!.problem("'pattern' is empty", ruleID: id)) }
        }
        var views: [ViewKind]? = nil
        if let cursor = keys["views"], let names = cursor.strings(problems: &problems, ruleID: id) {
            var parsed: [ViewKind] = []
            for name in names {
                if let view = ViewKind(rawValue: name) {
                    parsed.append(view)
                } else {
                    let allowed = ViewKind.allCases.map(\.rawValue).joined(separator: ", ")
                    problems.append(cursor.problem("unknown view '\(name)' (views: \(allowed))", ruleID: id))
                }
            }
            if names.isEmpty { problems.append(cursor.problem("'views' is empty", ruleID: id)) }
            views = parsed
        }
        var fields: [PromptField] = [.prompt]
        if let cursor = keys["fields"], let names = cursor.strings(problems: &problems, ruleID: id) {
            fields = []
            for name in names {
                if let field = PromptField(rawValue: name) {
                    fields.append(field)
                } else {
                    problems.append(
                        cursor.problem("unknown field '\(name)' (fields: prompt, negative_prompt)", ruleID: id))
                }
            }
        }
        let exceptions = keys["exceptions"]?.strings(problems: &problems, ruleID: id) ?? []
        var matchExamples: [String] = [], allowExamples: [String] = []
        if let cursor = keys["examples"],
            let examples = cursor.mapping(allowed: ["match", "allow"], problems: &problems, ruleID: id)
        {
            matchExamples = examples["match"]?.strings(problems: &problems, ruleID: id) ?? []
            allowExamples = examples["allow"]?.strings(problems: &problems, ruleID: id) ?? []
        }
        let description = keys["description"]?.string(problems: &problems, ruleID: id)
        guard problems.count == before, let id else { return nil }
        return RuleDefinition(
            id: id, category: category, severity: severity, action: action, terms: terms ?? [], pattern: pattern,
            views: views, fields: fields, exceptions: exceptions, matchExamples: matchExamples,
            allowExamples: allowExamples, description: description, source: file)
    }
}
