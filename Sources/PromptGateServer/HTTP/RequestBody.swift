import Foundation
import PromptGateCore

/// The usual shape of a moderation body, decoded with concrete types: several times cheaper than the
/// generic `JSONValue` walk. Anything unusual (a wrong type, an unknown LoRA field) makes this fail, and the
/// generic path then produces the field-named error; fields it does not know are ignored, as the HTTP API
/// carries nothing through.
struct RequestBody: Decodable {
    var prompt: String
    var negative_prompt: String?
    var id: IDValue?
    var width: Int?
    var height: Int?
    var steps: Int?
    var cfg_scale: Double?
    var seed: Int64?
    var sampler: String?
    var scheduler: String?
    var style: String?
    var template: String?
    var preset: String?
    var priority: String?
    var loras: [LoraBody]?

    struct LoraBody: Decodable {
        var name: String
        var weight: Double?
        var requested_weight: Double?

        enum CodingKeys: String, CodingKey, CaseIterable { case name, weight, requested_weight }

        init(from decoder: any Decoder) throws {
            // An unknown LoRA field must reach the generic path, which names it in the error.
            let all = try decoder.container(keyedBy: AnyCodingKey.self)
            if all.allKeys.contains(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown LoRA field"))
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            weight = try container.decodeIfPresent(Double.self, forKey: .weight)
            requested_weight = try container.decodeIfPresent(Double.self, forKey: .requested_weight)
        }
    }

    enum IDValue: Decodable {
        case string(String), number(Double)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { self = .string(text) } else { self = .number(try container.decode(Double.self)) }
        }
    }

    /// The same request as the JSON object `PromptRequest(json:)` validates.
    var object: [String: JSONValue] {
        var object: [String: JSONValue] = ["prompt": .string(prompt)]
        func put(_ key: String, _ value: JSONValue?) { if let value { object[key] = value } }
        put("negative_prompt", negative_prompt.map { .string($0) })
        put("id", id.map { switch $0 { case .string(let s): .string(s); case .number(let n): .number(n) } })
        put("width", width.map { .number(Double($0)) })
        put("height", height.map { .number(Double($0)) })
        put("steps", steps.map { .number(Double($0)) })
        put("cfg_scale", cfg_scale.map { .number($0) })
        put("seed", seed.map { .number(Double($0)) })
        put("sampler", sampler.map { .string($0) })
        put("scheduler", scheduler.map { .string($0) })
        put("style", style.map { .string($0) })
        put("template", template.map { .string($0) })
        put("preset", preset.map { .string($0) })
        put("priority", priority.map { .string($0) })
        put(
            "loras",
            loras.map { list in
                .array(
                    list.map { lora in
                        var item: [String: JSONValue] = ["name": .string(lora.name)]
                        if let weight = lora.weight { item["weight"] = .number(weight) }
                        if let requested = lora.requested_weight { item["requested_weight"] = .number(requested) }
                        return .object(item)
                    })
            })
        return object
    }
}
