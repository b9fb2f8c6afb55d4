/// A request field that is missing, of the wrong type, or out of range. HTTP answers 422 with the field in
/// `details`; the filter writes an error record for the line.
public struct RequestError: PromptGateError, Equatable {
    /// Stable code: `request.missing_field`, `request.wrong_type`, `request.out_of_range`,
    /// `request.unknown_name`, `request.invalid_value`.
    public var code: String
    /// The field, as a JSON path (`loras[1].weight`).
    public var field: String
    /// What is wrong with the field, as the end of a sentence ("must be at most 4096").
    public var detail: String
    /// Always invalid input: the caller must change the request.
    public var kind: ErrorKind { .invalidInput }
    /// The field, or nothing when the request as a whole is wrong.
    public var details: JSONValue? { field.isEmpty ? nil : ["field": .string(field)] }
    /// "field 'x' …", or "the request …" when the whole request is at fault.
    public var message: String { field.isEmpty ? "the request \(detail)" : "field '\(field)' \(detail)" }

    /// An error with a stable `code` about `field` (empty: the whole request).
    public init(code: String, field: String, detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    /// The request is JSON but not an object.
    static func notAnObject(found: String) -> RequestError {
        RequestError(code: "request.wrong_type", field: "", detail: "must be a JSON object, found \(found)")
    }

    /// Whether this says the request was not an object at all (no field to name).
    public var isNotAnObject: Bool { field.isEmpty && code == "request.wrong_type" }

    /// An object repeats a key (JSON parsers disagree on which of the values counts).
    public static func duplicateKey(_ path: String) -> RequestError {
        RequestError(
            code: "request.duplicate_key", field: path,
            detail: "appears more than once in its object (JSON parsers disagree on which value counts)")
    }

    static func missing(_ field: String) -> RequestError {
        RequestError(code: "request.missing_field", field: field, detail: "is missing")
    }

    static func wrongType(_ field: String, expected: String, found value: JSONValue) -> RequestError {
        RequestError(code: "request.wrong_type", field: field, detail: "must be \(expected), found \(value.typeName)")
    }

    static func outOfRange(_ field: String, _ detail: String) -> RequestError {
        RequestError(code: "request.out_of_range", field: field, detail: detail)
    }

    static func unknownName(_ field: String, _ value: String, known: [String]) -> RequestError {
        let list = known.isEmpty ? "none are defined" : "known: \(known.sorted().joined(separator: ", "))"
        return RequestError(
            code: "request.unknown_name", field: field,
            detail: "names '\(value)', which the preset does not define (\(list))")
    }
}
