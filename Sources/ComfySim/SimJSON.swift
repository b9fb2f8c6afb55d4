import Foundation

/// ComfySim's own JSON, on Foundation's `JSONSerialization` rather than the gateway's `JSONValue`, so the
/// simulator reads and writes ComfyUI's bodies with different code than the client it stands in for: a bug in
/// one cannot hide the same bug in the other.
enum SimJSON {
    /// Parses a body; nil when it is not JSON or its top level is not an object.
    static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any]
    }

    /// Serializes a value built from dictionaries, arrays, strings, numbers, `Bool` and `NSNull`.
    static func data(_ value: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]))
            ?? Data("{}".utf8)
    }

    static func text(_ value: Any) -> String { String(decoding: data(value), as: UTF8.self) }

    /// A string member, nil for any other type.
    static func string(_ value: Any?) -> String? { value as? String }

    /// A number member (not a boolean, which Foundation also hands out as an `NSNumber`).
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number.doubleValue
    }

    /// A boolean member (`true`/`false` in the text), nil for numbers.
    static func bool(_ value: Any?) -> Bool? {
        guard let number = value as? NSNumber, isBoolean(number) else { return nil }
        return number.boolValue
    }

    private static let booleanType = type(of: NSNumber(value: true))

    private static func isBoolean(_ number: NSNumber) -> Bool {
        type(of: number) == booleanType || String(cString: number.objCType) == "c"
    }

    /// Milliseconds since 1970, as ComfyUI stamps its events.
    static func timestamp() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }
}
