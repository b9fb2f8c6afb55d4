import Foundation

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
    public var line: Int
    public var code: String
    public var detail: String
    public var httpStatus: Int { code == "input.malformed_json" ? 400 : 422 }
    public var message: String { "line \(line): \(detail)" }
}

/// Turns one input line into a request.
public enum InputLine {
    /// Parses `bytes` (one line, without its newline) numbered `line` (1-based).
    public static func parse(_ bytes: ArraySlice<UInt8>, line: Int, format: InputFormat) -> Result<PromptRequest, InputLineError> {
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
        if let bad = PromptRequest.decode(body).1 {
            return .failure(InputLineError(line: line, code: "input.invalid_utf8", detail: "not valid UTF-8 (first bad byte at offset \(bad))"))
        }
        let object: [String: JSONValue]
        do {
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
            guard case .object(let fields) = value else {
                return .failure(InputLineError(line: line, code: "input.not_an_object", detail: "expected a JSON object, found \(value.typeName)"))
            }
            object = fields
        } catch {
            return .failure(InputLineError(line: line, code: "input.malformed_json", detail: "malformed JSON (\(describe(error)))"))
        }
        return request(from: object, line: line)
    }

    /// Builds a request from a decoded JSON object, naming the field on a type error.
    public static func request(from object: [String: JSONValue], line: Int) -> Result<PromptRequest, InputLineError> {
        do {
            return .success(try PromptRequest(json: object))
        } catch {
            return .failure(InputLineError(line: line, code: error.code, detail: error.message))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError as NSError?,
                let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String
            {
                return detail
            }
            return context.debugDescription
        }
        return "\(error)"
    }
}
