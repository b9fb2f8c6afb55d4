import PromptGateCore

extension JSONValue {
    /// The member `key` of an object; nil for anything else.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The text of a string.
    var text: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// The value of a number.
    var number: Double? {
        guard case .number(let value) = self else { return nil }
        return value
    }

    /// The items of an array (empty for anything else).
    var items: [JSONValue] {
        guard case .array(let items) = self else { return [] }
        return items
    }
}
