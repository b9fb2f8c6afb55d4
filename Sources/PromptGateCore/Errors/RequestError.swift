/// A request field that is missing, of the wrong type, or out of range. HTTP answers 422 with the field;
/// the filter writes an error record for the line.
public struct RequestError: PromptGateError, Equatable {
    /// Stable code: `request.missing_field`, `request.wrong_type`, `request.out_of_range`,
    /// `request.unknown_name`, `request.invalid_value`.
    public var code: String
    /// The field, as a JSON path (`loras[1].weight`).
    public var field: String
    public var detail: String
    public var httpStatus: Int { 422 }
    public var message: String { "field '\(field)' \(detail)" }

    public init(code: String, field: String, detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
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
        return RequestError(code: "request.unknown_name", field: field, detail: "names '\(value)', which the preset does not define (\(list))")
    }
}
