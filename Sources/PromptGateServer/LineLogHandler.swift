import Foundation
import Logging

/// swift-log backend writing one line per event to stderr or `logging.file` (`LogFile`): a JSON object (`logging.format: json`: time,
/// level, label, message and every metadata key, plus `extra_fields`), or plain text (`text`: time, level,
/// label, message, then `key=value` pairs). Either way a line is one event: in text, control characters in
/// the message and values are escaped, so a prompt holding a newline cannot forge a log line.
public struct LineLogHandler: LogHandler {
    /// How lines are written.
    public enum Format: String, Sendable {
        /// One JSON object a line.
        case json
        /// `time level label: message key=value ...`.
        case text
    }

    /// Metadata added to every line.
    public var metadata: Logger.Metadata = [:]
    /// Lines below this level are dropped.
    public var logLevel: Logger.Level
    let label: String
    let format: Format
    let extra: [String: String]
    let output: any LogSink

    /// A handler writing `format` lines to `output`, with `extra` fields on each.
    public init(
        label: String, level: Logger.Level, format: Format = .json, extra: [String: String] = [:],
        output: any LogSink = FileHandle.standardError
    ) {
        self.label = label
        logLevel = level
        self.format = format
        self.extra = extra
        self.output = output
    }

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one line.
    public func log(event: LogEvent) {
        var fields: [String: String] = extra
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            // Hummingbird tags each request's logger with `hb.request.id`: written once, as `request_id`.
            fields[key == Self.hummingbirdRequestID ? "request_id" : key] = "\(value)"
        }
        let time = Date().formatted(.iso8601)
        var data: Data
        switch format {
        case .json:
            fields["time"] = time
            fields["level"] = event.level.rawValue
            fields["label"] = label
            fields["message"] = event.message.description
            guard let encoded = try? Self.encoder.encode(fields) else { return }
            data = encoded
        case .text:
            var line = "\(time) \(event.level.rawValue) \(label): \(Self.escaped(event.message.description))"
            for key in fields.keys.sorted() { line += " \(Self.escaped(key))=\(Self.escaped(fields[key] ?? ""))" }
            data = Data(line.utf8)
        }
        data.append(0x0A)
        output.write(data)
    }

    static let hummingbirdRequestID = "hb.request.id"

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// `text` with backslashes, control characters (C0, DEL, C1) and the Unicode line and paragraph
    /// separators escaped (`\n`, `\r`, `\t`, `\u{1b}`, ...): what is left is one line.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where needsEscape(scalar): result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
            || scalar == "\\"
    }
}
