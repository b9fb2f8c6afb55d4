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
            case .seed: .integer(-1...Int(PromptRequest.maxSeed))
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
            case .seed:
                "Noise seed, 0…2^53−1 (integers JSON carries exactly); -1, null or absent: picked at random and "
                    + "recorded in the answer."
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

    /// Builds a request from a JSON object: the checks every front end applies, in `Field` order.
    /// - Throws: `RequestError` naming the first field that is missing or of the wrong type or range.
    public init(json object: [String: JSONValue]) throws(RequestError) {
        let fields = FieldReader(object: object, path: "")
        guard object[Field.prompt.rawValue] != nil else { throw RequestError.missing("prompt") }
        self.init(prompt: "")
        for field in Field.allCases {
            let key = field.rawValue
            guard object[key] != nil else { continue }
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
            case .seed: seed = try fields.integer(key, field.kind).flatMap { $0 < 0 ? nil : UInt64($0) }
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
        for (key, value) in object where !Field.names.contains(key) { params[key] = value }
    }

    /// Decodes a request from JSON text the way both front ends do (`JSONReader`, then `init(json:)`).
    /// - Throws: `RequestError` naming the field (`request.duplicate_key` and `request.wrong_type` for a
    ///   text that is not an object among them); `JSONReader.Failure` when the text is not JSON.
    public static func decode(json bytes: some Collection<UInt8>) throws -> PromptRequest {
        let value: JSONValue
        do {
            value = try JSONReader.parse(bytes)
        } catch {
            guard case .duplicateKey(let path) = error else { throw error }
            throw RequestError.duplicateKey(path)
        }
        guard case .object(let object) = value else { throw RequestError.notAnObject(found: value.typeName) }
        return try PromptRequest(json: object)
    }

    /// The request as JSON (what the optimizers produced), without `id` and carried fields.
    public var jsonObject: [String: JSONValue] {
        guard let bytes = try? JSONWriter.encode(self), case .object(let object)? = try? JSONReader.parse(bytes)
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
    /// Decodes through `JSONValue` and `init(json:)`, so every decoder applies the same checks.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        guard case .object(let object) = value else { throw RequestError.notAnObject(found: value.typeName) }
        try self.init(json: object)
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
    let object: [String: JSONValue]
    /// The object's own path (`loras[1]`), empty at the top.
    let path: String

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value at `key`; nil when absent or `null` (both mean "not given").
    func value(_ key: String) -> JSONValue? {
        switch object[key] {
        case nil, .null?: nil
        case let value?: value
        }
    }

    /// One of an enumeration's names (`high`, `normal`, `low`); anything else names the choices.
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(RequestError) -> T?
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

    func string(_ key: String, nullable: Bool = true) throws(RequestError) -> String? {
        switch object[key] {
        case nil: return nil
        case .null? where nullable: return nil
        case .string(let text)?: return text
        case let other?: throw .wrongType(name(key), expected: "a string", found: other)
        }
    }

    func number(_ key: String) throws(RequestError) -> Double? {
        switch value(key) {
        case nil: return nil
        case .number(let number)?:
            guard number.isFinite else { throw .outOfRange(name(key), "must be finite") }
            return number
        case let other?: throw .wrongType(name(key), expected: "a number", found: other)
        }
    }

    func boolean(_ key: String) throws(RequestError) -> Bool? {
        switch value(key) {
        case nil: return nil
        case .bool(let flag)?: return flag
        case let other?: throw .wrongType(name(key), expected: "true or false", found: other)
        }
    }

    func integer(_ key: String, _ kind: PromptRequest.Field.Kind) throws(RequestError) -> Int? {
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

    func identifier(_ key: String) throws(RequestError) -> JSONValue? {
        switch value(key) {
        case nil: return nil
        case .string(let text)?: return .string(text)
        case .number(let number)?: return .number(number)
        case let other?: throw .wrongType(name(key), expected: "a string or a number", found: other)
        }
    }

    func loras(_ key: String) throws(RequestError) -> [LoRA] {
        guard let list = value(key) else { return [] }
        guard case .array(let items) = list else { throw .wrongType(name(key), expected: "a list", found: list) }
        var loras: [LoRA] = []
        for item in items {
            let path = "\(name(key))[\(loras.count)]"
            guard case .object(let entry) = item else {
                throw .wrongType(path, expected: "an object {name, weight}", found: item)
            }
            loras.append(try FieldReader(object: entry, path: path).lora())
        }
        return loras
    }

    /// This object as one LoRA entry.
    func lora() throws(RequestError) -> LoRA {
        let nameKey = PromptRequest.LoraField.name.rawValue
        guard let value = object[nameKey] else { throw .missing(name(nameKey)) }
        guard case .string(let loraName) = value else {
            throw .wrongType(name(nameKey), expected: "a string", found: value)
        }
        guard !loraName.isEmpty else {
            throw RequestError(code: "request.invalid_value", field: name(nameKey), detail: "must not be empty")
        }
        for key in object.keys.sorted() where PromptRequest.LoraField(rawValue: key) == nil {
            throw RequestError(
                code: "request.unknown_field", field: name(key), detail: "is not a LoRA field (name, weight)")
        }
        let weight = try number(PromptRequest.LoraField.weight.rawValue) ?? 1.0
        let requested = try number(PromptRequest.LoraField.requestedWeight.rawValue)
        return LoRA(name: loraName, weight: weight, requestedWeight: requested)
    }
}
