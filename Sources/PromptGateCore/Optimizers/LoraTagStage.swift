/// Moves A1111-style `<lora:name:weight>` tags out of the prompt into `loras` (weight 1.0 when omitted;
/// `<lora:name:te:unet>` takes the first). ComfyUI does not read these tags: the dispatcher turns `loras`
/// into loader nodes. A tag with a bad weight or an unknown name is a `RequestError` on `prompt`.
public struct LoraTagStage: Stage {
    /// The stage's name in traces and preset files.
    public let name = "lora_tags"
    /// The preset whose LoRAs the tags may name.
    public let preset: Preset

    /// A stage for `preset`.
    public init(preset: Preset) { self.preset = preset }

    /// Moves `<lora:name:weight>` tags from the prompt into the request's LoRAs, then runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        let (prompt, tags) = try Self.extract(from: context.request.prompt)
        if !tags.isEmpty {
            for var tag in tags {
                guard let alias = preset.loras.alias(for: tag.name) else {
                    let known = preset.loras.knownNames.joined(separator: ", ")
                    throw RequestError(
                        code: "request.unknown_name", field: "prompt",
                        detail:
                            "has a LoRA tag <lora:\(tag.name)> naming a LoRA the preset does not define (known: \(known))"
                    )
                }
                tag.name = alias
                if let index = context.request.loras.firstIndex(where: { $0.name == tag.name }) {
                    context.request.loras[index] = tag
                } else {
                    context.request.loras.append(tag)
                }
            }
            context.request.prompt = prompt
            context.note("moved tags to loras: \(tags.map(\.summary).joined(separator: ", "))")
        }
        try next(context)
    }

    /// The prompt without its tags (separators tidied) and the tags found, in order.
    static func extract(from prompt: String) throws(RequestError) -> (String, [LoRA]) {
        // A byte search: Foundation's String.contains goes through CFString and cost microseconds here.
        guard PhraseList.Haystack.find(Array("<lora:".utf8), in: Array(prompt.utf8)) else { return (prompt, []) }
        var tags: [LoRA] = []
        var kept = ""
        var rest = Substring(prompt)
        while let open = rest.range(of: "<lora:") {
            kept += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: ">") else {
                throw RequestError(
                    code: "request.invalid_value", field: "prompt",
                    detail: "has an unclosed LoRA tag '\(rest[open.lowerBound...].prefix(40))'")
            }
            let body = rest[open.upperBound..<close]
            let parts = body.split(separator: ":", omittingEmptySubsequences: false).map {
                $0.trimmingPrefix(while: \.isWhitespace)
            }
            let name = String(parts[0].trimmingSuffix(while: \.isWhitespace))
            guard !name.isEmpty else {
                throw RequestError(
                    code: "request.invalid_value", field: "prompt",
                    detail: "has a LoRA tag without a name '<lora:\(body)>'")
            }
            var weight = 1.0
            if parts.count > 1, !parts[1].isEmpty {
                guard let value = Double(parts[1].trimmingSuffix(while: \.isWhitespace)), value.isFinite else {
                    throw RequestError(
                        code: "request.invalid_value", field: "prompt",
                        detail: "has a LoRA tag with a bad weight '<lora:\(body)>' (expected a finite number)")
                }
                weight = value
            }
            tags.append(LoRA(name: name, weight: weight))
            rest = rest[rest.index(after: close)...]
        }
        kept += rest
        return (tidy(kept), tags)
    }

    /// Collapses the separators a removed tag leaves behind ("a, , b" → "a, b") and trims the ends.
    static func tidy(_ text: String) -> String {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingPrefix(while: \.isWhitespace).trimmingSuffix(while: \.isWhitespace)
        }
        parts.removeAll { $0.isEmpty }
        return parts.joined(separator: ", ").split(separator: " ", omittingEmptySubsequences: true).joined(
            separator: " ")
    }
}

extension Substring {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var result = self
        while let last = result.last, predicate(last) { result = result.dropLast() }
        return result
    }
}
