/// Limits for one field, in Unicode scalars and in UTF-8 bytes (nil: no limit).
public struct LengthLimit: Sendable, Equatable, Codable {
    /// Fewest Unicode scalars allowed (nil: no lower bound).
    public var minScalars: Int?
    /// Most Unicode scalars allowed (nil: no upper bound).
    public var maxScalars: Int?
    /// Fewest UTF-8 bytes allowed (nil: no lower bound).
    public var minBytes: Int?
    /// Most UTF-8 bytes allowed (nil: no upper bound).
    public var maxBytes: Int?

    /// A limit with the given bounds; those left out are not checked.
    public init(minScalars: Int? = nil, maxScalars: Int? = nil, minBytes: Int? = nil, maxBytes: Int? = nil) {
        self.minScalars = minScalars
        self.maxScalars = maxScalars
        self.minBytes = minBytes
        self.maxBytes = maxBytes
    }

    enum CodingKeys: String, CodingKey {
        case minScalars = "min_chars", maxScalars = "max_chars", minBytes = "min_bytes", maxBytes = "max_bytes"
    }

    /// Prompt: 1 to 1000 characters (Unicode scalars), at most 4000 bytes.
    public static let defaultPrompt = LengthLimit(minScalars: 1, maxScalars: 1000, maxBytes: 4000)
    /// Negative prompt: optional, at most 1000 characters, 4000 bytes.
    public static let defaultNegativePrompt = LengthLimit(maxScalars: 1000, maxBytes: 4000)
}

/// Refuses fields that are too long, too short, or not valid UTF-8, before any expensive stage runs.
public struct LengthFilter: Stage {
    /// The stage's name in traces and configuration.
    public let name = "length"
    /// The limit of each field; fields without one are not checked.
    public var limits: [PromptField: LengthLimit]

    /// A filter with these limits (default: the prompt and negative prompt limits).
    public init(
        limits: [PromptField: LengthLimit] = [.prompt: .defaultPrompt, .negativePrompt: .defaultNegativePrompt]
    ) {
        self.limits = limits
    }

    /// Blocks a field outside its limit (`length.too_long` / `length.too_short`), else runs `next`.
    public func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
        for field in PromptField.allCases {
            if let offset = context.request.invalidUTF8[field] {
                context.verdict.add(
                    reason(
                        "length.invalid_utf8", field,
                        "\(field.rawValue) is not valid UTF-8 (first bad byte at offset \(offset))"))
                continue
            }
            guard let limit = limits[field] else { continue }
            let text = context.request[field]
            let bytes = text.utf8.count
            if let max = limit.maxBytes, bytes > max {
                context.verdict.add(
                    reason("length.too_long", field, "\(field.rawValue) is \(bytes) bytes; the limit is \(max)"))
            } else if let min = limit.minBytes, bytes < min {
                context.verdict.add(
                    reason("length.too_short", field, "\(field.rawValue) is \(bytes) bytes; the minimum is \(min)"))
            }
            // A text of n bytes holds between n/4 and n scalars: count them only when a limit lies in between.
            let fewest = (bytes + 3) / 4
            if bytes > (limit.maxScalars ?? Int.max) || fewest < (limit.minScalars ?? 0) {
                let count = text.unicodeScalars.count
                if let max = limit.maxScalars, count > max {
                    context.verdict.add(
                        reason(
                            "length.too_long", field, "\(field.rawValue) is \(count) characters; the limit is \(max)"))
                } else if let min = limit.minScalars, count < min {
                    let what = count == 0 ? "\(field.rawValue) is empty" : "\(field.rawValue) is \(count) characters"
                    context.verdict.add(reason("length.too_short", field, "\(what); the minimum is \(min)"))
                }
            }
        }
        if context.verdict.isBlocked { return }
        try next(context)
    }

    private func reason(_ id: String, _ field: PromptField, _ message: String) -> Reason {
        Reason(
            stage: name, ruleID: id, category: "length", severity: .low, action: .block, field: field, message: message)
    }
}
