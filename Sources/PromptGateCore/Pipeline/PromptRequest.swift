/// The generation request the pipeline works on (HTTP and CLI alike). Its JSON form is declared once, in
/// `PromptRequest.Field` (`RequestSchema.swift`): HTTP bodies, the filter's JSONL lines, the optimized
/// request in answers, task metadata and the OpenAPI schema all follow that table. Optional parameters left
/// nil are filled by the `defaults` optimizer from the preset.
public struct PromptRequest: Sendable, Equatable {
    /// Caller-supplied id, echoed in the verdict (a string or a number in JSON).
    public var id: JSONValue?
    /// The text to generate from.
    public var prompt: String
    /// What to keep out of the image (empty: none).
    public var negativePrompt: String
    /// Image size in pixels (a multiple of the preset's `multiple_of`, 16 for FLUX).
    public var width: Int?
    /// Image height in pixels (nil: the preset's default).
    public var height: Int?
    /// Sampler steps (nil: the preset's default).
    public var steps: Int?
    /// Classifier-free guidance scale; for guidance-distilled FLUX graphs, the FLUX guidance value.
    public var cfgScale: Double?
    /// 0…`maxSeed`; when absent (or -1 in JSON) the `defaults` optimizer picks one at random and records it.
    public var seed: UInt64?
    /// The largest seed a request may carry: 2^53−1, the largest integer every JSON reader (and this one, whose
    /// numbers are doubles) holds exactly (RFC 8259 §6). ComfyUI takes up to 2^64−1; a larger seed would be
    /// rounded on the way, so it is refused instead.
    public static let maxSeed: UInt64 = 1 << 53 - 1
    /// ComfyUI sampler name (nil: the preset's default).
    public var sampler: String?
    /// ComfyUI scheduler name (nil: the preset's default).
    public var scheduler: String?
    /// LoRAs to apply, in order.
    public var loras: [LoRA]
    /// A named style of the preset (`realistic`, `anime`, ...).
    public var style: String?
    /// A product template of the preset (`clothing`, `electronics`, `food`, ...).
    public var template: String?
    /// The preset (brand) to optimize for; nil means the front end's default.
    public var preset: String?
    /// Queue priority (nil: normal).
    public var priority: Priority?
    /// With a sync wait: cancel the task when the waiting client disconnects (nil: leave it running).
    public var cancelOnDisconnect: Bool?
    /// Where the task's end is announced (an http or https URL); nil: the API key's default, if any.
    public var webhookURL: String?
    /// Images from one run, 1…8 (nil: the workflow's own batch size, normally 1).
    public var batchSize: Int?
    /// How the task's images come back (nil: as URLs).
    public var responseFormat: ResponseFormat?
    /// Every other field of the request, carried through untouched.
    public var params: [String: JSONValue]
    /// Fields whose bytes were not valid UTF-8, with the offset of the first bad byte. The text then holds
    /// U+FFFD replacements and the length stage refuses the request.
    public var invalidUTF8: [PromptField: Int]

    /// - Parameters:
    ///   - id: the caller's id, echoed in answers.
    ///   - prompt: the prompt text.
    ///   - negativePrompt: what to avoid.
    ///   - params: fields the pipeline does not interpret, carried through.
    ///   - invalidUTF8: fields whose bytes were not valid UTF-8, with the first bad offset.
    public init(
        id: JSONValue? = nil, prompt: String, negativePrompt: String = "", params: [String: JSONValue] = [:],
        invalidUTF8: [PromptField: Int] = [:]
    ) {
        self.id = id
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.params = params
        self.invalidUTF8 = invalidUTF8
        self.loras = []
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

/// A LoRA to apply with its strength.
public struct LoRA: Sendable, Equatable {
    /// The alias (or file) the preset resolves to a LoRA file.
    public var name: String
    /// The strength applied.
    public var weight: Double
    /// The weight asked for before keyword reweighting and clamping; reweighting always starts from it, so
    /// optimizing an already optimized request changes nothing.
    public var requestedWeight: Double?

    /// - Parameters:
    ///   - name: the alias or file.
    ///   - weight: the strength.
    ///   - requestedWeight: the weight asked for before reweighting.
    public init(name: String, weight: Double = 1.0, requestedWeight: Double? = nil) {
        self.name = name
        self.weight = weight
        self.requestedWeight = requestedWeight
    }
}

/// Queue priority (the seed's three levels).
public enum Priority: String, Sendable, Codable, CaseIterable {
    case high, normal, low
}

/// How a task's images come back: as URLs to fetch, or inline as base64 in the task body.
public enum ResponseFormat: String, Sendable, Codable, CaseIterable {
    /// `result.images[].url`, served by `GET /output/{file}`.
    case url
    /// `result.images[].b64` as well, up to `server.max_inline_bytes`.
    case base64
}
