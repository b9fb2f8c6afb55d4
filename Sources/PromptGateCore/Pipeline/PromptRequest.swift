/// The request fields the pipeline works on; front ends build it from a JSON body or an input line.
public struct PromptRequest: Sendable, Equatable {
    /// Caller-supplied id, echoed in the verdict (a string or a number in JSON).
    public var id: JSONValue?
    public var prompt: String
    public var negativePrompt: String
    /// Client address, when the front end knows it.
    public var ip: String?
    /// API key presented by the caller, when any.
    public var apiKey: String?
    /// Every other field of the request, carried through untouched.
    public var params: [String: JSONValue]
    /// Fields whose bytes were not valid UTF-8, with the offset of the first bad byte. The text then holds
    /// U+FFFD replacements and the length stage refuses the request.
    public var invalidUTF8: [PromptField: Int]

    public init(
        id: JSONValue? = nil, prompt: String, negativePrompt: String = "", ip: String? = nil, apiKey: String? = nil,
        params: [String: JSONValue] = [:], invalidUTF8: [PromptField: Int] = [:]
    ) {
        self.id = id
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.ip = ip
        self.apiKey = apiKey
        self.params = params
        self.invalidUTF8 = invalidUTF8
    }

    /// Builds a request whose prompt comes from raw bytes, recording invalid UTF-8 instead of failing.
    public init(id: JSONValue? = nil, promptBytes: some Collection<UInt8>) {
        let (text, badOffset) = Self.decode(promptBytes)
        self.init(id: id, prompt: text, invalidUTF8: badOffset.map { [.prompt: $0] } ?? [:])
    }

    /// Decodes UTF-8, returning the text (with U+FFFD for bad sequences) and the first bad byte offset.
    public static func decode(_ bytes: some Collection<UInt8>) -> (String, Int?) {
        if let valid = String(validating: bytes, as: UTF8.self) { return (valid, nil) }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        var consumed = 0
        // Find the first bad byte by decoding scalar by scalar.
        var firstBad: Int? = nil
        while firstBad == nil {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                consumed += UTF8.width(scalar)
                offset = consumed
            case .emptyInput:
                firstBad = offset
            case .error:
                firstBad = offset
            }
        }
        return (String(decoding: bytes, as: UTF8.self), firstBad)
    }

    /// The text of one field.
    public subscript(field: PromptField) -> String {
        get {
            switch field {
            case .prompt: prompt
            case .negativePrompt: negativePrompt
            }
        }
        set {
            switch field {
            case .prompt: prompt = newValue
            case .negativePrompt: negativePrompt = newValue
            }
        }
    }
}
