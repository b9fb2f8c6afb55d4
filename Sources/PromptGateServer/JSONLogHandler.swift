import Foundation
import Logging

/// swift-log backend writing one JSON object per line: time, level, label, message and every metadata key
/// (plus `extra_fields` from the configuration).
public struct JSONLogHandler: LogHandler {
    /// Metadata added to every line.
    public var metadata: Logger.Metadata = [:]
    /// Lines below this level are dropped.
    public var logLevel: Logger.Level
    let label: String
    let extra: [String: String]
    let output: FileHandle

    /// A handler writing one JSON object a line to `output`, with `extra` fields on each.
    public init(label: String, level: Logger.Level, extra: [String: String] = [:], output: FileHandle = .standardError)
    {
        self.label = label
        logLevel = level
        self.extra = extra
        self.output = output
    }

    /// One metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one JSON line.
    public func log(event: LogEvent) {
        var object: [String: String] = extra
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = "\(value)"
        }
        object["time"] = Date().formatted(.iso8601)
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = event.message.description
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(object) else { return }
        data.append(0x0A)
        output.write(data)
    }
}
