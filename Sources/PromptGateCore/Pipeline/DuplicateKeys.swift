/// Finds an object key that appears twice in one JSON object.
///
/// JSON parsers disagree on duplicates: Foundation's `JSONDecoder` keeps the first value, `JSONSerialization`,
/// Python's `json` and most others keep the last. A request `{"prompt": "a cat", "prompt": "<blocked>"}` would
/// be screened as one prompt and run as the other, so both front ends refuse duplicates outright. Keys are
/// compared after unescaping (`"pr\u006fmpt"` is `"prompt"`).
///
/// The scan runs on text the decoder has already accepted as JSON, so it only tracks strings, nesting and
/// which string is a key; it is one pass over the bytes without allocation for keys without escapes.
enum DuplicateKeys {
    /// The path of the first duplicate key (`prompt`, `loras[1].name`), or nil.
    static func first(in bytes: some Collection<UInt8>) -> String? {
        let bytes = Array(bytes)
        var scanner = Scanner(bytes: bytes)
        return scanner.run()
    }

    private enum Container {
        case object(keys: Set<[UInt8]>, path: String, pendingKey: [UInt8]?)
        case array(index: Int, path: String)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var stack: [Container] = []
        /// Whether the next string in the current object is a key (after `{` or `,`).
        var expectingKey = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func run() -> String? {
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "{"):
                    stack.append(.object(keys: [], path: childPath(), pendingKey: nil))
                    expectingKey = true
                case UInt8(ascii: "["):
                    stack.append(.array(index: 0, path: childPath()))
                    expectingKey = false
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    _ = stack.popLast()
                    expectingKey = false
                case UInt8(ascii: ","):
                    if case .array(let index, let path)? = stack.last {
                        stack[stack.count - 1] = .array(index: index + 1, path: path)
                    } else {
                        expectingKey = true
                    }
                case UInt8(ascii: "\""):
                    let key = readString()
                    if expectingKey, case .object(var keys, let path, _)? = stack.last {
                        expectingKey = false
                        if !keys.insert(key).inserted {
                            let name = String(decoding: key, as: UTF8.self)
                            return path.isEmpty ? name : "\(path).\(name)"
                        }
                        stack[stack.count - 1] = .object(keys: keys, path: path, pendingKey: key)
                    }
                    continue  // readString moved past the closing quote
                default:
                    break
                }
                position += 1
            }
            return nil
        }

        /// The path of a container starting here: the current object's pending key, or the array index.
        func childPath() -> String {
            switch stack.last {
            case .object(_, let path, let key?)?:
                let name = String(decoding: key, as: UTF8.self)
                return path.isEmpty ? name : "\(path).\(name)"
            case .array(let index, let path)?:
                return "\(path)[\(index)]"
            default:
                return ""
            }
        }

        /// Reads the string at `position` (its opening quote) and returns its unescaped UTF-8.
        mutating func readString() -> [UInt8] {
            position += 1
            let start = position
            var hasEscape = false
            while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                if bytes[position] == UInt8(ascii: "\\") {
                    hasEscape = true
                    position += 1
                }
                position += 1
            }
            let raw = bytes[start..<min(position, bytes.count)]
            position += 1
            return hasEscape ? Self.unescape(raw) : Array(raw)
        }

        /// JSON string escapes resolved (`\n`, `\"`, `\u00e9`, surrogate pairs).
        static func unescape(_ raw: ArraySlice<UInt8>) -> [UInt8] {
            var scalars = String.UnicodeScalarView()
            var index = raw.startIndex
            var pendingHigh: UInt32?
            func hex(_ at: Int) -> UInt32? {
                guard at + 4 <= raw.endIndex else { return nil }
                return UInt32(String(decoding: raw[at..<at + 4], as: UTF8.self), radix: 16)
            }
            var plain: [UInt8] = []
            func flushPlain() {
                scalars.append(contentsOf: String(decoding: plain, as: UTF8.self).unicodeScalars)
                plain.removeAll()
            }
            while index < raw.endIndex {
                let byte = raw[index]
                guard byte == UInt8(ascii: "\\"), index + 1 < raw.endIndex else {
                    plain.append(byte)
                    index += 1
                    continue
                }
                flushPlain()
                let escape = raw[index + 1]
                index += 2
                let simple: Unicode.Scalar? =
                    switch escape {
                    case UInt8(ascii: "n"): "\n"
                    case UInt8(ascii: "t"): "\t"
                    case UInt8(ascii: "r"): "\r"
                    case UInt8(ascii: "b"): "\u{8}"
                    case UInt8(ascii: "f"): "\u{c}"
                    case UInt8(ascii: "u"): nil
                    default: Unicode.Scalar(escape)
                    }
                if let simple {
                    scalars.append(simple)
                    continue
                }
                guard let unit = hex(index) else { continue }
                index += 4
                if (0xD800..<0xDC00).contains(unit) {
                    pendingHigh = unit
                } else if (0xDC00..<0xE000).contains(unit), let high = pendingHigh {
                    pendingHigh = nil
                    let value = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                    if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
                } else if let scalar = Unicode.Scalar(unit) {
                    scalars.append(scalar)
                }
            }
            flushPlain()
            return Array(String(scalars).utf8)
        }
    }
}
