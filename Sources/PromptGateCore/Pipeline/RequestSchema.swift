import Foundation

/// The one declaration of the generation request's JSON form. Decoding (HTTP bodies, JSONL lines),
/// encoding (the optimized request, task metadata) and the OpenAPI schema (`jsonSchema`) all read this
/// table, so a field, its type and its bounds are spelled once.
extension PromptRequest {
    /// Every field of the request, in the order they are checked (the first bad one is reported).
    public enum Field: String, Sendable, CaseIterable {
        case prompt
        case negativePrompt = "negative_prompt"
        case id, width, height, steps
        case cfgScale = "cfg_scale"
        case seed, sampler, scheduler, style, template, preset, priority, loras
        case cancelOnDisconnect = "cancel_on_disconnect"
        case webhookURL = "webhook_url"
        case batchSize = "batch_size"
        case responseFormat = "response_format"

        /// The JSON type and bounds of a field.
        public enum Kind: Sendable, Equatable {
            case string
            /// A whole number within the range.
            case integer(ClosedRange<Int>)
            /// A finite number.
            case number
            /// true or false.
            case boolean
            /// A string or a number, echoed as given.
            case identifier
            /// One of the names.
            case oneOf([String])
            /// A list of `{name, weight, requested_weight}`.
            case loras
        }

        /// The text field it is, for the text fields.
        public var promptField: PromptField? { PromptField(rawValue: rawValue) }

        /// The field's JSON type and bounds.
        public var kind: Kind {
            switch self {
            case .prompt, .negativePrompt, .sampler, .scheduler, .style, .template, .preset: .string
            case .id: .identifier
            case .width, .height: .integer(1...65_536)
            case .steps: .integer(1...10_000)
            case .seed: .integer(0...Int(UInt32.max))
            case .cfgScale: .number
            case .priority: .oneOf(Priority.allCases.map(\.rawValue))
            case .loras: .loras
            case .cancelOnDisconnect: .boolean
            case .webhookURL: .string
            case .batchSize: .integer(1...8)
            case .responseFormat: .oneOf(ResponseFormat.allCases.map(\.rawValue))
            }
        }

        /// What the field means, for the OpenAPI document.
        public var summary: String {
            switch self {
            case .prompt: "The prompt text."
            case .negativePrompt: "What the image should avoid."
            case .id: "The caller's id, echoed in the answer."
            case .width: "Image width in pixels (a multiple of the preset's multiple_of)."
            case .height: "Image height in pixels (a multiple of the preset's multiple_of)."
            case .steps: "Sampler steps."
            case .cfgScale: "Classifier-free guidance scale (the FLUX guidance value for FLUX graphs)."
            case .seed: "Noise seed; picked at random when absent."
            case .sampler: "Sampler name (ComfyUI's sampler_name)."
            case .scheduler: "Scheduler name."
            case .style: "A named style of the preset."
            case .template: "A product template of the preset."
            case .preset: "The preset (brand) to optimize for; default: the key's preset, then the configured one."
            case .priority: "Queue priority."
            case .loras: "LoRAs to apply, in order (names the preset resolves to files)."
            case .cancelOnDisconnect:
                "With a wait (Prefer: wait=N or ?wait=N): cancel the task if the client disconnects while waiting."
            case .webhookURL:
                "An http(s) URL told of the task's end (Standard Webhooks, signed with the key's webhook_secret); "
                    + "default: the key's webhook_url."
            case .batchSize:
                "Images from one run (the latent's batch size; each image has its index, the seed is the batch's)."
            case .responseFormat: "How images come back: url (GET /output/{file}) or base64 (inline, as b64)."
            }
        }

        /// Whether a request must carry the field.
        public var isRequired: Bool { self == .prompt }

        /// Whether the optimized request (answers, records) carries the field; `id` belongs to the envelope.
        var isOutput: Bool { self != .id }

        static let names: Set<String> = Set(allCases.map(\.rawValue))
    }

    /// The fields of one LoRA entry.
    public enum LoraField: String, Sendable, CaseIterable {
        case name, weight
        case requestedWeight = "requested_weight"

        /// What the field means, for the OpenAPI document.
        public var summary: String {
            switch self {
            case .name: "Alias from the preset's LoRA list."
            case .weight: "Strength (default 1)."
            case .requestedWeight: "The weight asked for before keyword reweighting (set by the optimizer)."
            }
        }
    }

    /// Builds a request from a decoded JSON object (preset examples, tests); the same checks as decoding.
    /// - Throws: `RequestError` naming the first field that is missing or of the wrong type or range.
    public init(json object: [String: JSONValue]) throws(RequestError) {
        do {
            self = try JSONDecoder().decode(PromptRequest.self, from: JSONEncoder().encode(JSONValue.object(object)))
        } catch let error as RequestError {
            throw error
        } catch {
            throw RequestError(code: "request.invalid_value", field: "", detail: "is not a request: \(error)")
        }
    }

    /// Decodes a request from JSON text the way both front ends do: the decoder, then a refusal of
    /// duplicate keys (parsers disagree on which of two values counts; see `DuplicateKeys`).
    /// - Throws: `RequestError` naming the field (`request.duplicate_key` among them); the decoder's own
    ///   error when the text is not JSON.
    public static func decode(json data: Data, with decoder: JSONDecoder) throws -> PromptRequest {
        let request = try decoder.decode(PromptRequest.self, from: data)
        if let key = DuplicateKeys.first(in: data) {
            throw RequestError(
                code: "request.duplicate_key", field: key,
                detail: "appears more than once in its object (JSON parsers disagree on which value counts)")
        }
        return request
    }

    /// The request as JSON (what the optimizers produced), without `id` and carried fields.
    public var jsonObject: [String: JSONValue] {
        guard let data = try? JSONEncoder().encode(self),
            case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: data)
        else { return [:] }
        return object
    }

    /// The JSON Schema of a request object (`GenerationRequest` in the OpenAPI document): the bounds of the
    /// request itself, narrowed to what `preset` accepts (sizes, multiples, steps, guidance, samplers,
    /// schedulers) and to the length limits, so a client generated from it sends what will be accepted.
    /// - Parameters:
    ///   - loraReference: where the schema of one LoRA entry lives.
    ///   - preset: the preset whose limits apply (the default one); nil: the request's own bounds only.
    ///   - lengths: the length limits of the text fields.
    public static func jsonSchema(
        loraReference: String, preset: Preset? = nil, lengths: [PromptField: LengthLimit] = [:]
    ) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        for field in Field.allCases {
            var schema: [String: JSONValue] = ["description": .string(field.summary)]
            switch field.kind {
            case .string: schema["type"] = "string"
            case .number: schema["type"] = "number"
            case .boolean: schema["type"] = "boolean"
            case .identifier: schema["type"] = ["string", "number"]
            case .integer(let range):
                schema["type"] = "integer"
                schema["minimum"] = .number(Double(range.lowerBound))
                schema["maximum"] = .number(Double(range.upperBound))
            case .oneOf(let names):
                schema["type"] = "string"
                schema["enum"] = .array(names.map { .string($0) })
            case .loras:
                schema["type"] = "array"
                schema["items"] = ["$ref": .string(loraReference)]
            }
            if let preset { narrow(&schema, field, to: preset) }
            if let length = field.promptField.flatMap({ lengths[$0] }) {
                if let min = length.minScalars { schema["minLength"] = .number(Double(min)) }
                if let max = length.maxScalars { schema["maxLength"] = .number(Double(max)) }
            }
            properties[field.rawValue] = .object(schema)
        }
        return [
            "type": "object", "properties": .object(properties),
            "required": .array(Field.allCases.filter(\.isRequired).map { .string($0.rawValue) }),
            "additionalProperties": true,
        ]
    }

    /// The preset's limits on one field, where it has any.
    private static func narrow(_ schema: inout [String: JSONValue], _ field: Field, to preset: Preset) {
        let limits = preset.limits
        func range(_ range: ClosedRange<Int>) {
            schema["minimum"] = .number(Double(range.lowerBound))
            schema["maximum"] = .number(Double(range.upperBound))
        }
        switch field {
        case .width, .height:
            range(field == .width ? limits.width : limits.height)
            if limits.multipleOf > 1 { schema["multipleOf"] = .number(Double(limits.multipleOf)) }
        case .steps: range(limits.steps)
        case .cfgScale:
            schema["minimum"] = .number(limits.cfgScale.lowerBound)
            schema["maximum"] = .number(limits.cfgScale.upperBound)
        case .sampler where !limits.samplers.isEmpty: schema["enum"] = .array(limits.samplers.map { .string($0) })
        case .scheduler where !limits.schedulers.isEmpty:
            schema["enum"] = .array(limits.schedulers.map { .string($0) })
        default: return
        }
        let summary = field.summary
        schema["description"] = .string("\(summary) Limits of preset '\(preset.name)'; other presets may narrow them.")
    }

    /// The JSON Schema of one LoRA entry.
    public static var loraSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for field in LoraField.allCases {
            properties[field.rawValue] = [
                "type": field == .name ? "string" : "number", "description": .string(field.summary),
            ]
        }
        return [
            "type": "object", "required": ["name"], "properties": .object(properties), "additionalProperties": false,
        ]
    }
}

extension PromptRequest: Codable {
    /// Decodes with concrete types on the usual path; a field of the wrong type or range is a
    /// `RequestError` naming it (`loras[1].weight`). Fields the table does not know go to `params`.
    public init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<AnyCodingKey>
        do {
            container = try decoder.container(keyedBy: AnyCodingKey.self)
        } catch {
            let found = (try? JSONValue(from: decoder))?.typeName ?? "something else"
            throw RequestError.notAnObject(found: found)
        }
        let fields = FieldReader(container: container, path: "")
        guard container.contains(AnyCodingKey(Field.prompt.rawValue)) else { throw RequestError.missing("prompt") }
        self.init(prompt: "")
        for field in Field.allCases {
            let key = AnyCodingKey(field.rawValue)
            guard container.contains(key) else { continue }
            switch field {
            case .prompt:
                guard let text = try fields.string(key, nullable: false) else { throw RequestError.missing("prompt") }
                prompt = text
            case .negativePrompt: negativePrompt = try fields.string(key) ?? ""
            case .id: id = try fields.identifier(key)
            case .width: width = try fields.integer(key, field.kind)
            case .height: height = try fields.integer(key, field.kind)
            case .steps: steps = try fields.integer(key, field.kind)
            case .cfgScale: cfgScale = try fields.number(key)
            case .seed: seed = try fields.integer(key, field.kind).map { UInt32($0) }
            case .sampler: sampler = try fields.string(key)
            case .scheduler: scheduler = try fields.string(key)
            case .style: style = try fields.string(key)
            case .template: template = try fields.string(key)
            case .preset: preset = try fields.string(key)
            case .priority: priority = try fields.choice(key, Priority.self)
            case .loras: loras = try fields.loras(key)
            case .cancelOnDisconnect: cancelOnDisconnect = try fields.boolean(key)
            case .webhookURL: webhookURL = try fields.string(key)
            case .batchSize: batchSize = try fields.integer(key, field.kind)
            case .responseFormat: responseFormat = try fields.choice(key, ResponseFormat.self)
            }
        }
        for key in container.allKeys where !Field.names.contains(key.stringValue) {
            params[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
    }

    /// The optimized request: every field of the table but `id`, absent optionals left out, carried fields
    /// left to the envelope.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try encodeFields(into: &container, loras: loras.map(EncodedLoRA.init))
    }

    /// Writes the request's fields into `container` with `loras` in place of the request's own list
    /// (task metadata adds the resolved files).
    package func encodeFields(
        into container: inout KeyedEncodingContainer<AnyCodingKey>, loras: some Encodable
    ) throws {
        for field in Field.allCases where field.isOutput {
            let key = AnyCodingKey(field.rawValue)
            switch field {
            case .prompt: try container.encode(prompt, forKey: key)
            case .negativePrompt: try container.encode(negativePrompt, forKey: key)
            case .id: break
            case .width: try container.encodeIfPresent(width, forKey: key)
            case .height: try container.encodeIfPresent(height, forKey: key)
            case .steps: try container.encodeIfPresent(steps, forKey: key)
            case .cfgScale: try container.encodeIfPresent(cfgScale, forKey: key)
            case .seed: try container.encodeIfPresent(seed, forKey: key)
            case .sampler: try container.encodeIfPresent(sampler, forKey: key)
            case .scheduler: try container.encodeIfPresent(scheduler, forKey: key)
            case .style: try container.encodeIfPresent(style, forKey: key)
            case .template: try container.encodeIfPresent(template, forKey: key)
            case .preset: try container.encodeIfPresent(preset, forKey: key)
            case .priority: try container.encodeIfPresent(priority, forKey: key)
            case .loras: try container.encode(loras, forKey: key)
            case .cancelOnDisconnect: try container.encodeIfPresent(cancelOnDisconnect, forKey: key)
            case .webhookURL: try container.encodeIfPresent(webhookURL, forKey: key)
            case .batchSize: try container.encodeIfPresent(batchSize, forKey: key)
            case .responseFormat: try container.encodeIfPresent(responseFormat, forKey: key)
            }
        }
    }

    /// A LoRA as the optimized request shows it.
    struct EncodedLoRA: Encodable {
        var lora: LoRA
        init(_ lora: LoRA) { self.lora = lora }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyCodingKey.self)
            try container.encode(lora.name, forKey: AnyCodingKey(LoraField.name.rawValue))
            try container.encode(lora.weight, forKey: AnyCodingKey(LoraField.weight.rawValue))
            try container.encodeIfPresent(
                lora.requestedWeight, forKey: AnyCodingKey(LoraField.requestedWeight.rawValue))
        }
    }
}

/// Typed reads from one JSON object, turning every mismatch into a `RequestError` that names the field
/// by its path and says what was found.
private struct FieldReader {
    let container: KeyedDecodingContainer<AnyCodingKey>
    /// The object's own path (`loras[1]`), empty at the top.
    let path: String

    func name(_ key: AnyCodingKey) -> String { path.isEmpty ? key.stringValue : "\(path).\(key.stringValue)" }

    /// What the value at `key` is, for the message (only on the error path).
    /// The value at `key`, nil when even a JSON value cannot be read from it (a number beyond a double's
    /// range, a string with a lone surrogate escape).
    func found(_ key: AnyCodingKey) -> JSONValue? { try? container.decode(JSONValue.self, forKey: key) }

    /// Absent or `null`: both mean "not given".
    func isNull(_ key: AnyCodingKey) -> Bool {
        !container.contains(key) || ((try? container.decodeNil(forKey: key)) ?? false)
    }

    /// One of an enumeration's names (`high`, `normal`, `low`); anything else names the choices.
    func choice<T: RawRepresentable & CaseIterable>(_ key: AnyCodingKey, _: T.Type) throws(RequestError) -> T?
    where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = T(rawValue: text) else {
            var names = T.allCases.map(\.rawValue)
            let last = names.removeLast()
            let choices = names.isEmpty ? last : names.joined(separator: ", ") + " or " + last
            throw RequestError(
                code: "request.invalid_value", field: name(key), detail: "must be \(choices), found '\(text)'")
        }
        return value
    }

    func string(_ key: AnyCodingKey, nullable: Bool = true) throws(RequestError) -> String? {
        if nullable, isNull(key) { return nil }
        do {
            return try container.decode(String.self, forKey: key)
        } catch {
            throw .wrongType(name(key), expected: "a string", found: found(key))
        }
    }

    func number(_ key: AnyCodingKey) throws(RequestError) -> Double? {
        guard !isNull(key) else { return nil }
        let value: Double
        do {
            value = try container.decode(Double.self, forKey: key)
        } catch {
            throw .wrongType(name(key), expected: "a number", found: found(key))
        }
        guard value.isFinite else { throw .outOfRange(name(key), "must be finite") }
        return value
    }

    func boolean(_ key: AnyCodingKey) throws(RequestError) -> Bool? {
        guard !isNull(key) else { return nil }
        do {
            return try container.decode(Bool.self, forKey: key)
        } catch {
            throw .wrongType(name(key), expected: "true or false", found: found(key))
        }
    }

    func integer(_ key: AnyCodingKey, _ kind: PromptRequest.Field.Kind) throws(RequestError) -> Int? {
        guard let value = try number(key) else { return nil }
        guard value.rounded() == value else {
            throw .wrongType(name(key), expected: "an integer", found: .number(value))
        }
        guard case .integer(let range) = kind else { return Int(exactly: value) }
        guard value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            let shown = Int(exactly: value).map(String.init) ?? "\(value)"
            throw .outOfRange(name(key), "must be between \(range.lowerBound) and \(range.upperBound), found \(shown)")
        }
        return Int(value)
    }

    func identifier(_ key: AnyCodingKey) throws(RequestError) -> JSONValue? {
        let value = found(key)
        switch value {
        case .string, .number: return value
        case .null: return nil
        default: throw .wrongType(name(key), expected: "a string or a number", found: value)
        }
    }

    func loras(_ key: AnyCodingKey) throws(RequestError) -> [LoRA] {
        guard !isNull(key) else { return [] }
        var items: UnkeyedDecodingContainer
        do {
            items = try container.nestedUnkeyedContainer(forKey: key)
        } catch {
            throw .wrongType(name(key), expected: "a list", found: found(key))
        }
        var loras: [LoRA] = []
        while !items.isAtEnd {
            let path = "\(name(key))[\(loras.count)]"
            let entry: KeyedDecodingContainer<AnyCodingKey>
            do {
                entry = try items.nestedContainer(keyedBy: AnyCodingKey.self)
            } catch {
                let value = (try? items.decode(JSONValue.self)) ?? .null
                throw .wrongType(path, expected: "an object {name, weight}", found: value)
            }
            loras.append(try FieldReader(container: entry, path: path).lora())
        }
        return loras
    }

    /// This object as one LoRA entry.
    func lora() throws(RequestError) -> LoRA {
        let nameKey = AnyCodingKey(PromptRequest.LoraField.name.rawValue)
        guard container.contains(nameKey) else { throw .missing(name(nameKey)) }
        guard let loraName = try? container.decode(String.self, forKey: nameKey) else {
            throw .wrongType(name(nameKey), expected: "a string", found: found(nameKey))
        }
        guard !loraName.isEmpty else {
            throw RequestError(code: "request.invalid_value", field: name(nameKey), detail: "must not be empty")
        }
        for key in container.allKeys where PromptRequest.LoraField(rawValue: key.stringValue) == nil {
            throw RequestError(
                code: "request.unknown_field", field: name(key), detail: "is not a LoRA field (name, weight)")
        }
        let weight = try number(AnyCodingKey(PromptRequest.LoraField.weight.rawValue)) ?? 1.0
        let requested = try number(AnyCodingKey(PromptRequest.LoraField.requestedWeight.rawValue))
        return LoRA(name: loraName, weight: weight, requestedWeight: requested)
    }
}
