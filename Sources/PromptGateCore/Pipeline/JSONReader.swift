/// A strict JSON (RFC 8259) parser from UTF-8 bytes to `JSONValue`, for the bodies both front ends read.
///
/// Foundation's `JSONDecoder` cost about 11 µs for a two-field line of `promptgate filter` (a quarter of its
/// time); no faster JSON library is in the package mirror, so this is one pass over the bytes that builds the
/// values directly (about 1 µs for such a line). It also refuses an object that repeats a key, which JSON
/// parsers read differently (Foundation keeps the first value, Python's `json` and most others the last): a
/// request `{"prompt": "a cat", "prompt": "<blocked>"}` would be screened as one prompt and run as the other.
/// Keys are compared after unescaping (`"pr\u006fmpt"` is `"prompt"`).
public enum JSONReader {
    /// Why bytes are not an acceptable JSON text.
    public enum Failure: Error, Equatable {
        /// Not JSON: what was wrong and at which byte offset.
        case syntax(offset: Int, message: String)
        /// An object repeats a key; the key's path (`prompt`, `loras[1].weight`).
        case duplicateKey(path: String)
    }

    /// Nesting deeper than this is refused (the parser recurses).
    public static let maximumDepth = 256

    /// Parses one JSON text (whitespace around it allowed, nothing else).
    public static func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> JSONValue {
        let result: Result<JSONValue, Failure>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(Failure) -> JSONValue in try parse(buffer: buffer) }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer throws(Failure) -> JSONValue in try parse(buffer: buffer) }
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue {
        var parser = Parser(bytes: buffer)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.position < buffer.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        /// Keys and indices from the top to the value being read (for duplicate-key paths).
        var path: [PathComponent] = []

        enum PathComponent {
            case key(String)
            case index(Int)
        }

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ message: String) -> Failure { .syntax(offset: position, message: message) }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(Failure) -> JSONValue {
            guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
            switch bytes[position] {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character \(describe(bytes[position])), expected a value")
            }
        }

        mutating func object(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= JSONReader.maximumDepth else { throw error("nested deeper than \(JSONReader.maximumDepth)") }
            position += 1
            var fields: [String: JSONValue] = [:]
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw error(
                        position < bytes.count ? "expected a key in quotes" : "unexpected end of input in an object")
                }
                let key = try string()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw error("expected ':' after the key")
                }
                position += 1
                skipWhitespace()
                path.append(.key(key))
                let member = try value(depth: depth)
                path.removeLast()
                if fields.updateValue(member, forKey: key) != nil {
                    throw Failure.duplicateKey(path: render(path + [.key(key)]))
                }
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an object") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(fields)
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= JSONReader.maximumDepth else { throw error("nested deeper than \(JSONReader.maximumDepth)") }
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                path.append(.index(items.count))
                items.append(try value(depth: depth))
                path.removeLast()
                skipWhitespace()
                guard position < bytes.count else { throw error("unexpected end of input in an array") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count,
                (0..<count).allSatisfy({ bytes[position + $0] == word.utf8Start[$0] })
            else { throw error("unexpected character \(describe(bytes[position])), expected a value") }
            position += count
        }

        /// A number as RFC 8259 writes it (no leading zeros, no `+`, no bare `.`); one beyond a double's
        /// range is refused rather than read as infinity.
        mutating func number() throws(Failure) -> Double {
            let start = position
            var integer: Int64 = 0
            var isSimple = true  // only digits, few enough to be exact
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, Self.isDigit(bytes[position]) else { throw error("expected a digit") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
                if position < bytes.count, Self.isDigit(bytes[position]) { throw error("a number cannot start with 0") }
            } else {
                while position < bytes.count, Self.isDigit(bytes[position]) {
                    if position - start >= 15 { isSimple = false }
                    integer = integer &* 10 &+ Int64(bytes[position] - 0x30)
                    position += 1
                }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                isSimple = false
                position += 1
                guard position < bytes.count, Self.isDigit(bytes[position]) else {
                    throw error("expected a digit after '.'")
                }
                while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                isSimple = false
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
                {
                    position += 1
                }
                guard position < bytes.count, Self.isDigit(bytes[position]) else {
                    throw error("expected a digit in the exponent")
                }
                while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
            }
            if isSimple { return bytes[start] == UInt8(ascii: "-") ? -Double(integer) : Double(integer) }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                position = start
                throw error("number \(text) is beyond the range of a double")
            }
            return value
        }

        @inline(__always)
        static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

        /// The string starting at the opening quote; control characters must be escaped, escapes resolved,
        /// and a `\u` escape must not leave half a surrogate pair.
        mutating func string() throws(Failure) -> String {
            position += 1
            let start = position
            // Fast path: no escapes (the common case) is one scan and one copy.
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = try validated(start..<position)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character \(describe(byte)) in a string must be escaped") }
                position += 1
            }
            guard position < bytes.count else { throw error("unexpected end of input in a string") }
            var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: utf8, as: UTF8.self) else {
                        throw Failure.syntax(offset: start, message: "string is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    try escape(into: &utf8)
                case 0..<0x20:
                    throw error("control character \(describe(byte)) in a string must be escaped")
                default:
                    utf8.append(byte)
                    position += 1
                }
            }
            throw error("unexpected end of input in a string")
        }

        func validated(_ range: Range<Int>) throws(Failure) -> String {
            let slice = UnsafeBufferPointer(rebasing: bytes[range])
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw Failure.syntax(offset: range.lowerBound, message: "string is not valid UTF-8")
            }
            return text
        }

        mutating func escape(into utf8: inout [UInt8]) throws(Failure) {
            position += 1
            guard position < bytes.count else { throw error("unexpected end of input in an escape") }
            let simple: UInt8?
            switch bytes[position] {
            case UInt8(ascii: "\""): simple = 0x22
            case UInt8(ascii: "\\"): simple = 0x5C
            case UInt8(ascii: "/"): simple = 0x2F
            case UInt8(ascii: "b"): simple = 0x08
            case UInt8(ascii: "f"): simple = 0x0C
            case UInt8(ascii: "n"): simple = 0x0A
            case UInt8(ascii: "r"): simple = 0x0D
            case UInt8(ascii: "t"): simple = 0x09
            case UInt8(ascii: "u"): simple = nil
            default: throw error("invalid escape \\\(describe(bytes[position]))")
            }
            if let simple {
                utf8.append(simple)
                position += 1
                return
            }
            var value = try hexUnit()
            if (0xDC00..<0xE000).contains(value) { throw error("\\u escape is a lone low surrogate") }
            if (0xD800..<0xDC00).contains(value) {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("\\u escape is a lone high surrogate") }
                position += 1
                let low = try hexUnit()
                guard (0xDC00..<0xE000).contains(low) else { throw error("\\u escape is a lone high surrogate") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
            utf8.append(contentsOf: UTF8.encode(scalar)!)
        }

        /// The four hex digits after `u` (position is at the `u`).
        mutating func hexUnit() throws(Failure) -> UInt32 {
            guard position + 4 < bytes.count else { throw error("\\u escape needs four hex digits") }
            var value: UInt32 = 0
            for offset in 1...4 {
                let byte = bytes[position + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - 0x30
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - 0x57
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - 0x37
                default: throw error("\\u escape needs four hex digits")
                }
                value = value << 4 | UInt32(digit)
            }
            position += 5
            return value
        }

        func describe(_ byte: UInt8) -> String {
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            return "0x" + String(byte, radix: 16, uppercase: true)
        }

        func render(_ components: [PathComponent]) -> String {
            var text = ""
            for component in components {
                switch component {
                case .key(let key): text += text.isEmpty ? key : ".\(key)"
                case .index(let index): text += "[\(index)]"
                }
            }
            return text
        }
    }
}
