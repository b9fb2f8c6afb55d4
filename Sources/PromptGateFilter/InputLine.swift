import PromptGateCore

/// How `promptgate filter` reads each input line.
public enum InputFormat: String, Sendable, CaseIterable {
    /// The whole line is the prompt.
    case text
    /// A JSON object with `prompt` and optionally `negative_prompt`, `id` and any other fields.
    case jsonl
    /// Per line: JSON when it starts with `{`, text otherwise.
    case auto
}

/// A line that could not be turned into a request; rendered as an error record, processing continues.
public struct InputLineError: PromptGateError, Equatable {
    /// The 1-based input line.
    public var line: Int
    /// Stable code (`input.malformed_json`, `input.missing_field`, ...).
    public var code: String
    /// What is wrong, naming the field.
    public var detail: String
    /// Malformed JSON, or a well-formed line with a bad field.
    public var kind: ErrorKind { code == "input.malformed_json" ? .malformedInput : .invalidInput }
    /// The line number.
    public var details: JSONValue? { ["line": .number(Double(line))] }
    /// "line N: …".
    public var message: String { "line \(line): \(detail)" }
}

/// Turns one input line into a request.
public enum InputLine {
    /// Parses `bytes` (one line, without its newline) numbered `line` (1-based).
    public static func parse(_ bytes: ArraySlice<UInt8>, line: Int, format: InputFormat) -> Result<
        PromptRequest, InputLineError
    > {
        var body = bytes
        if body.last == UInt8(ascii: "\r") { body = body.dropLast() }
        let isJSON: Bool
        switch format {
        case .text: isJSON = false
        case .jsonl: isJSON = true
        case .auto: isJSON = body.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "{")
        }
        guard isJSON else {
            let (text, bad) = PromptRequest.decode(body)
            return .success(PromptRequest(prompt: text, invalidUTF8: bad.map { [.prompt: $0] } ?? [:]))
        }
        let value: JSONValue
        do {
            value = try JSONReader.parse(body)
        } catch {
            switch error {
            case .syntax(let offset, let message):
                // The reader refuses bad UTF-8 too; name it as such.
                if let bad = PromptRequest.decode(body).1 {
                    return .failure(
                        InputLineError(
                            line: line, code: "input.invalid_utf8",
                            detail: "not valid UTF-8 (first bad byte at offset \(bad))"))
                }
                return .failure(
                    InputLineError(
                        line: line, code: "input.malformed_json",
                        detail: "malformed JSON (\(message) at byte \(offset))"))
            case .duplicateKey(let path):
                let error = RequestError.duplicateKey(path)
                return .failure(InputLineError(line: line, code: error.code, detail: error.message))
            }
        }
        guard case .object(let object) = value else {
            return .failure(
                InputLineError(
                    line: line, code: "input.not_an_object", detail: "expected a JSON object, found \(value.typeName)"))
        }
        do {
            return .success(try PromptRequest(json: object))
        } catch {
            return .failure(InputLineError(line: line, code: error.code, detail: error.message))
        }
    }
}
