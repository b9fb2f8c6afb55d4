import Yams

/// Walks a parsed YAML document while keeping the key path, so every error can say where it is.
///
/// ```swift
/// let root = try YAMLCursor.parse(text, file: "rules/en.yaml")
/// let rules = try root.mapping(allowed: ["rules"])["rules"]?.sequence() ?? []
/// ```
package struct YAMLCursor {
    package let node: Node
    package let file: String
    package let path: String

    /// Parses `text`; syntax errors name the file, line and column.
    package static func parse(_ text: String, file: String) throws(LoadErrorList) -> YAMLCursor? {
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return YAMLCursor(node: node, file: file, path: "")
        } catch let error as YamlError {
            throw LoadErrorList([LoadProblem(file: file, keyPath: "", message: "YAML syntax error: \(error)")])
        } catch {
            throw LoadErrorList([LoadProblem(file: file, keyPath: "", message: "YAML error: \(error)")])
        }
    }

    package func problem(_ message: String, ruleID: String? = nil) -> LoadProblem {
        LoadProblem(file: file, ruleID: ruleID, keyPath: path, message: message)
    }

    private func child(_ node: Node, _ component: String) -> YAMLCursor {
        YAMLCursor(node: node, file: file, path: path.isEmpty ? component : "\(path).\(component)")
    }

    private var kind: String {
        switch node {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// What was found, for a type error: a scalar's text (shortened), otherwise its kind.
    private var found: String {
        guard case .scalar(let scalar) = node else { return kind }
        let text = scalar.string
        return "'\(text.count > 60 ? text.prefix(57) + "..." : Substring(text))'"
    }

    /// The mapping's entries by key; keys outside `allowed` (when given) are reported as problems.
    package func mapping(allowed: Set<String>?, problems: inout [LoadProblem], ruleID: String? = nil) -> [String:
        YAMLCursor]?
    {
        guard case .mapping(let mapping) = node else {
            problems.append(problem("expected a mapping, found \(kind)", ruleID: ruleID))
            return nil
        }
        var result: [String: YAMLCursor] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                problems.append(problem("mapping keys must be strings", ruleID: ruleID))
                continue
            }
            if let allowed, !allowed.contains(name) {
                let known = allowed.sorted().joined(separator: ", ")
                problems.append(
                    child(value, name).problem("unknown key '\(name)' (known keys: \(known))", ruleID: ruleID))
                continue
            }
            result[name] = child(value, name)
        }
        return result
    }

    package func sequence(problems: inout [LoadProblem], ruleID: String? = nil) -> [YAMLCursor]? {
        guard case .sequence(let sequence) = node else {
            let hint = if case .scalar(let scalar) = node { " (write a list: [\(scalar.string)])" } else { "" }
            problems.append(
                problem("expected a list, found \(kind == "a scalar" ? found : kind)\(hint)", ruleID: ruleID))
            return nil
        }
        return sequence.enumerated().map { index, item in
            YAMLCursor(node: item, file: file, path: "\(path)[\(index)]")
        }
    }

    package func string(problems: inout [LoadProblem], ruleID: String? = nil) -> String? {
        guard case .scalar(let scalar) = node else {
            problems.append(problem("expected a string, found \(kind)", ruleID: ruleID))
            return nil
        }
        return scalar.string
    }

    /// A list of strings (a single string is an error: `quality_words: "a, b"` would silently be one phrase).
    package func strings(problems: inout [LoadProblem], ruleID: String? = nil) -> [String]? {
        guard let items = sequence(problems: &problems, ruleID: ruleID) else { return nil }
        var result = [String]()
        for item in items {
            if let value = item.string(problems: &problems, ruleID: ruleID) { result.append(value) }
        }
        return result
    }

    package func double(problems: inout [LoadProblem]) -> Double? {
        guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite else {
            problems.append(problem("expected a finite number, found \(found)"))
            return nil
        }
        return value
    }

    package func bool(problems: inout [LoadProblem]) -> Bool? {
        guard case .scalar(let scalar) = node, let value = Bool(scalar.string.lowercased()) else {
            problems.append(problem("expected true or false, found \(found)"))
            return nil
        }
        return value
    }

    /// The node as JSON: plain scalars become null, booleans or numbers when they read as one.
    package var jsonValue: JSONValue {
        switch node {
        case .scalar(let scalar):
            let text = scalar.string
            guard scalar.style == .plain else { return .string(text) }
            if text.isEmpty || text == "~" || text == "null" { return .null }
            if text == "true" || text == "false" { return .bool(text == "true") }
            if let number = Double(text), number.isFinite,
                text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true
            {
                return .number(number)
            }
            return .string(text)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping {
                object[key.string ?? ""] = YAMLCursor(node: value, file: file, path: path).jsonValue
            }
            return .object(object)
        case .sequence(let sequence):
            return .array(sequence.map { YAMLCursor(node: $0, file: file, path: path).jsonValue })
        case .alias:
            return .null
        }
    }

    package func int(problems: inout [LoadProblem], ruleID: String? = nil) -> Int? {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
            problems.append(problem("expected an integer, found \(found)", ruleID: ruleID))
            return nil
        }
        return value
    }
}

/// Problems collected while loading; converted to a domain error by the caller.
package struct LoadErrorList: Error {
    package var problems: [LoadProblem]
    package init(_ problems: [LoadProblem]) { self.problems = problems }
}
