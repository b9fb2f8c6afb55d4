/// The JSON form of a request, shared by every front end: field names are the API's (`negative_prompt`,
/// `cfg_scale`, `loras: [{name, weight}]`), type errors name the field.
extension PromptRequest {
    /// Fields this type reads; every other field is carried through in `params`.
    static let jsonFields: Set<String> = [
        "id", "prompt", "negative_prompt", "width", "height", "steps", "cfg_scale", "seed", "sampler", "scheduler",
        "loras", "style", "template", "preset", "priority",
    ]

    /// Builds a request from a decoded JSON object.
    /// - Throws: `RequestError` naming the first field that is missing or of the wrong type or range.
    public init(json object: [String: JSONValue]) throws(RequestError) {
        guard let promptValue = object["prompt"] else { throw .missing("prompt") }
        guard case .string(let prompt) = promptValue else {
            throw .wrongType("prompt", expected: "a string", found: promptValue)
        }
        self.init(prompt: prompt)
        negativePrompt = try Self.string(object, "negative_prompt") ?? ""
        if let id = object["id"] {
            switch id {
            case .string, .number, .null: self.id = id
            default: throw .wrongType("id", expected: "a string or a number", found: id)
            }
        }
        width = try Self.integer(object, "width", in: 1...65_536)
        height = try Self.integer(object, "height", in: 1...65_536)
        steps = try Self.integer(object, "steps", in: 1...10_000)
        cfgScale = try Self.number(object, "cfg_scale")
        if let seed = try Self.integer(object, "seed", in: 0...Int(UInt32.max)) { self.seed = UInt32(seed) }
        sampler = try Self.string(object, "sampler")
        scheduler = try Self.string(object, "scheduler")
        style = try Self.string(object, "style")
        template = try Self.string(object, "template")
        preset = try Self.string(object, "preset")
        if let name = try Self.string(object, "priority") {
            guard let priority = Priority(rawValue: name) else {
                throw RequestError(code: "request.invalid_value", field: "priority", detail: "must be high, normal or low, found '\(name)'")
            }
            self.priority = priority
        }
        if let value = object["loras"], value != .null {
            guard case .array(let items) = value else { throw .wrongType("loras", expected: "a list", found: value) }
            loras = try items.enumerated().map { index, item throws(RequestError) in try Self.lora(item, field: "loras[\(index)]") }
        }
        params = object.filter { !Self.jsonFields.contains($0.key) }
    }

    /// The request as a typed, encodable value (the same fields as `jsonObject`; much faster to encode).
    public var output: Output { Output(self) }

    /// The encodable form of a request: what the optimizers produced, without `id` and carried fields.
    public struct Output: Encodable, Sendable {
        var prompt: String
        var negativePrompt: String
        var width: Int?, height: Int?, steps: Int?
        var cfgScale: Double?
        var seed: UInt32?
        var sampler: String?, scheduler: String?, style: String?, template: String?, preset: String?
        var priority: Priority?
        var loras: [LoRA]

        init(_ request: PromptRequest) {
            prompt = request.prompt
            negativePrompt = request.negativePrompt
            width = request.width
            height = request.height
            steps = request.steps
            cfgScale = request.cfgScale
            seed = request.seed
            sampler = request.sampler
            scheduler = request.scheduler
            style = request.style
            template = request.template
            preset = request.preset
            priority = request.priority
            loras = request.loras
        }

        enum CodingKeys: String, CodingKey {
            case prompt, negativePrompt = "negative_prompt", width, height, steps, cfgScale = "cfg_scale", seed, sampler,
                scheduler, style, template, preset, priority, loras
        }
    }

    /// The request as JSON (what the optimizers produced), without `id` and carried fields.
    public var jsonObject: [String: JSONValue] {
        var object: [String: JSONValue] = ["prompt": .string(prompt), "negative_prompt": .string(negativePrompt)]
        object["width"] = width.map { .number(Double($0)) }
        object["height"] = height.map { .number(Double($0)) }
        object["steps"] = steps.map { .number(Double($0)) }
        object["cfg_scale"] = cfgScale.map { .number($0) }
        object["seed"] = seed.map { .number(Double($0)) }
        object["sampler"] = sampler.map { .string($0) }
        object["scheduler"] = scheduler.map { .string($0) }
        object["style"] = style.map { .string($0) }
        object["template"] = template.map { .string($0) }
        object["preset"] = preset.map { .string($0) }
        object["priority"] = priority.map { .string($0.rawValue) }
        object["loras"] = .array(
            loras.map { lora in
                var item: [String: JSONValue] = ["name": .string(lora.name), "weight": .number(lora.weight)]
                item["requested_weight"] = lora.requestedWeight.map { .number($0) }
                return .object(item)
            })
        return object
    }

    private static func lora(_ value: JSONValue, field: String) throws(RequestError) -> LoRA {
        guard case .object(let item) = value else { throw .wrongType(field, expected: "an object {name, weight}", found: value) }
        guard let nameValue = item["name"] else { throw .missing("\(field).name") }
        guard case .string(let name) = nameValue, !name.isEmpty else {
            throw .wrongType("\(field).name", expected: "a non-empty string", found: nameValue)
        }
        for key in item.keys where !["name", "weight", "requested_weight"].contains(key) {
            throw RequestError(code: "request.unknown_field", field: "\(field).\(key)", detail: "is not a LoRA field (name, weight)")
        }
        let weight = try number(item, "weight", field: "\(field).weight") ?? 1.0
        let requested = try number(item, "requested_weight", field: "\(field).requested_weight")
        return LoRA(name: name, weight: weight, requestedWeight: requested)
    }

    private static func string(_ object: [String: JSONValue], _ key: String) throws(RequestError) -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard case .string(let text) = value else { throw .wrongType(key, expected: "a string", found: value) }
        return text
    }

    private static func number(_ object: [String: JSONValue], _ key: String, field: String? = nil) throws(RequestError) -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard case .number(let number) = value else { throw .wrongType(field ?? key, expected: "a number", found: value) }
        guard number.isFinite else { throw .outOfRange(field ?? key, "must be finite") }
        return number
    }

    private static func integer(_ object: [String: JSONValue], _ key: String, in range: ClosedRange<Int>) throws(RequestError) -> Int? {
        guard let number = try number(object, key) else { return nil }
        guard number.rounded() == number else { throw .wrongType(key, expected: "an integer", found: .number(number)) }
        guard number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            throw .outOfRange(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(Int(exactly: number).map(String.init) ?? "\(number)")")
        }
        return Int(number)
    }
}
