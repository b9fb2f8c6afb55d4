import Foundation

/// Writes an `Encodable` as compact JSON straight into bytes, members in the order they are encoded (a
/// `JSONValue` object's keys sorted, so carried fields come out the same every run).
///
/// Foundation's `JSONEncoder` builds a tree of boxed values first and cost `promptgate filter` about 9 µs a
/// verdict record; no faster encoder is in the package mirror. This one streams: a container's members are
/// written as they come. A type that goes back to a container after starting a sibling (legal in `Codable`,
/// never done by synthesized conformances or this codebase) cannot be streamed; such a value is encoded by
/// `JSONEncoder` instead, so the result is always right; so is a value holding a `Date`, `URL`, `Data` or
/// `Decimal`, which `JSONEncoder` writes its own way.
public enum JSONWriter {
    /// The JSON text of `value`, compact, slashes not escaped.
    /// - Throws: `EncodingError` for a value JSON cannot hold (a non-finite number).
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let stream = Stream()
        do {
            try stream.write(value, depth: 0)
            try stream.finish()
            return stream.bytes
        } catch is OutOfOrder {
            return Array(try fallback.encode(value))
        }
    }

    /// `value` appended to `bytes` (a `JSONValue` never needs the fallback).
    public static func append(_ value: JSONValue, to bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): appendNumber(number, to: &bytes)
        case .string(let text): appendString(text, to: &bytes)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(item, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                append(fields[key]!, to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything else as is.
    public static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case 0x22: bytes.append(contentsOf: #"\""#.utf8)
                case 0x5C: bytes.append(contentsOf: #"\\"#.utf8)
                case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
                case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
                case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
                case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
                case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: #"\u00"#.utf8)
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0xF)])
                }
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whole numbers as integers (`7`, not `7.0`), others in the shortest form that reads back the same.
    static func appendNumber(_ number: Double, to bytes: inout [UInt8]) {
        if number.rounded() == number, abs(number) < 9.0e15 {
            bytes.append(contentsOf: String(Int64(number)).utf8)
        } else {
            bytes.append(contentsOf: number.description.utf8)
        }
    }

    private static let fallback: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// A container was written to after a sibling had started: stream no further.
    struct OutOfOrder: Error {}

    /// The bytes being written and the containers still open, innermost last.
    final class Stream {
        var bytes: [UInt8] = []
        /// Open containers: whether an object, members written so far, and an identity.
        var open: [(isObject: Bool, count: Int, id: Int)] = []
        var nextID = 0

        init() { bytes.reserveCapacity(256) }

        /// Closes every container deeper than `depth` (a nested container ends when its parent moves on).
        func close(deeperThan depth: Int) {
            while open.count > depth {
                bytes.append(open.removeLast().isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
            }
        }

        func finish() throws {
            close(deeperThan: 0)
            if bytes.isEmpty { throw OutOfOrder() }
        }

        /// Opens a container at `depth` (the encoder's depth) and returns its identity.
        func openContainer(object: Bool, depth: Int) throws -> Int {
            guard depth >= 0 else { throw OutOfOrder() }
            close(deeperThan: depth)
            guard open.count == depth else { throw OutOfOrder() }
            bytes.append(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            nextID += 1
            open.append((object, 0, nextID))
            return nextID
        }

        /// Prepares container `id` at `depth` for its next member: closes deeper ones, writes the comma.
        func member(of id: Int, depth: Int) throws {
            guard depth >= 0 else { throw OutOfOrder() }
            close(deeperThan: depth + 1)
            guard open.count == depth + 1, open[depth].id == id else { throw OutOfOrder() }
            if open[depth].count > 0 { bytes.append(UInt8(ascii: ",")) }
            open[depth].count += 1
        }

        /// Writes one value as the next thing at `depth`.
        func write(_ value: some Encodable, depth: Int) throws {
            switch value {
            case let text as String: JSONWriter.appendString(text, to: &bytes)
            case let json as JSONValue: JSONWriter.append(json, to: &bytes)
            case let fields as [String: JSONValue]: JSONWriter.append(.object(fields), to: &bytes)
            case let number as Int: bytes.append(contentsOf: String(number).utf8)
            case let number as Double: try writeDouble(number)
            case let flag as Bool: bytes.append(contentsOf: (flag ? "true" : "false").utf8)
            case is Date, is URL, is Data, is Decimal:
                throw OutOfOrder()  // JSONEncoder writes these its own way: let it write the whole value
            default:
                let before = bytes.count
                try value.encode(to: StreamEncoder(stream: self, depth: depth))
                if bytes.count == before { throw OutOfOrder() }  // encoded nothing: let JSONEncoder say why
            }
        }

        func writeDouble(_ number: Double) throws {
            guard number.isFinite else {
                throw EncodingError.invalidValue(
                    number, EncodingError.Context(codingPath: [], debugDescription: "\(number) is not a JSON number"))
            }
            JSONWriter.appendNumber(number, to: &bytes)
        }

        func writeInteger(_ text: String) { bytes.append(contentsOf: text.utf8) }
    }

    struct StreamEncoder: Encoder {
        let stream: Stream
        let depth: Int
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            let id = (try? stream.openContainer(object: true, depth: depth)) ?? -1
            return KeyedEncodingContainer(KeyedWriter<Key>(stream: stream, depth: depth, id: id))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            let id = (try? stream.openContainer(object: false, depth: depth)) ?? -1
            return UnkeyedWriter(stream: stream, depth: depth, id: id)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            SingleWriter(stream: stream, depth: depth)
        }
    }

    struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let stream: Stream
        let depth: Int
        let id: Int
        var codingPath: [any CodingKey] { [] }

        func key(_ key: Key) throws {
            try stream.member(of: id, depth: depth)
            JSONWriter.appendString(key.stringValue, to: &stream.bytes)
            stream.bytes.append(UInt8(ascii: ":"))
        }

        mutating func encodeNil(forKey key: Key) throws {
            try self.key(key)
            stream.bytes.append(contentsOf: "null".utf8)
        }
        mutating func encode(_ value: Bool, forKey key: Key) throws {
            try self.key(key)
            try stream.write(value, depth: depth + 1)
        }
        mutating func encode(_ value: String, forKey key: Key) throws {
            try self.key(key)
            JSONWriter.appendString(value, to: &stream.bytes)
        }
        mutating func encode(_ value: Double, forKey key: Key) throws {
            try self.key(key)
            try stream.writeDouble(value)
        }
        mutating func encode(_ value: Float, forKey key: Key) throws {
            try self.key(key)
            try stream.writeDouble(Double(value))
        }
        mutating func encode(_ value: Int, forKey key: Key) throws {
            try self.key(key)
            stream.writeInteger(String(value))
        }
        mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, key) }
        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            try self.key(key)
            try stream.write(value, depth: depth + 1)
        }

        private func encodeInteger(_ value: some BinaryInteger, _ key: Key) throws {
            try self.key(key)
            stream.writeInteger(String(value))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            let id = (try? self.key(key)).flatMap { try? stream.openContainer(object: true, depth: depth + 1) } ?? -1
            return KeyedEncodingContainer(KeyedWriter<NestedKey>(stream: stream, depth: depth + 1, id: id))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let id = (try? self.key(key)).flatMap { try? stream.openContainer(object: false, depth: depth + 1) } ?? -1
            return UnkeyedWriter(stream: stream, depth: depth + 1, id: id)
        }

        mutating func superEncoder() -> any Encoder { StreamEncoder(stream: stream, depth: -1) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { StreamEncoder(stream: stream, depth: -1) }
    }

    struct UnkeyedWriter: UnkeyedEncodingContainer {
        let stream: Stream
        let depth: Int
        let id: Int
        var codingPath: [any CodingKey] { [] }
        var count: Int { depth >= 0 && depth < stream.open.count ? stream.open[depth].count : 0 }

        mutating func encodeNil() throws {
            try stream.member(of: id, depth: depth)
            stream.bytes.append(contentsOf: "null".utf8)
        }
        mutating func encode(_ value: some Encodable) throws {
            try stream.member(of: id, depth: depth)
            try stream.write(value, depth: depth + 1)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            let id = (try? stream.member(of: self.id, depth: depth)).flatMap {
                try? stream.openContainer(object: true, depth: depth + 1)
            }
            return KeyedEncodingContainer(KeyedWriter<NestedKey>(stream: stream, depth: depth + 1, id: id ?? -1))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let id = (try? stream.member(of: self.id, depth: depth)).flatMap {
                try? stream.openContainer(object: false, depth: depth + 1)
            }
            return UnkeyedWriter(stream: stream, depth: depth + 1, id: id ?? -1)
        }
        mutating func superEncoder() -> any Encoder { StreamEncoder(stream: stream, depth: -1) }
    }

    struct SingleWriter: SingleValueEncodingContainer {
        let stream: Stream
        let depth: Int
        var codingPath: [any CodingKey] { [] }

        /// A single value is written where the encoder stands; a second one would corrupt the text.
        func place() throws {
            guard depth >= 0 else { throw OutOfOrder() }
            stream.close(deeperThan: depth)
            guard stream.open.count == depth else { throw OutOfOrder() }
        }

        mutating func encodeNil() throws {
            try place()
            stream.bytes.append(contentsOf: "null".utf8)
        }
        mutating func encode(_ value: Bool) throws {
            try place()
            try stream.write(value, depth: depth)
        }
        mutating func encode(_ value: String) throws {
            try place()
            JSONWriter.appendString(value, to: &stream.bytes)
        }
        mutating func encode(_ value: Double) throws {
            try place()
            try stream.writeDouble(value)
        }
        mutating func encode(_ value: Float) throws {
            try place()
            try stream.writeDouble(Double(value))
        }
        mutating func encode(_ value: Int) throws { try encodeInteger(value) }
        mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
        mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
        mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
        mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
        mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
        mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
        mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
        mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
        mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }
        mutating func encode(_ value: some Encodable) throws {
            try place()
            try stream.write(value, depth: depth)
        }

        private func encodeInteger(_ value: some BinaryInteger) throws {
            try place()
            stream.writeInteger(String(value))
        }
    }
}
