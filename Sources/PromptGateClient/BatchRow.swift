import Crypto
import Foundation
import PromptGateCore

/// One row of a batch: the request it sends and the id its images and summary line are named by.
public struct BatchRow: Sendable, Equatable {
    /// The row's id: the request's `id` (JSONL) or `id` column (CSV), else `line-N` / `row-N`.
    public var id: String
    /// The request body sent to `POST /api/v1/generate`.
    public var request: [String: JSONValue]
    /// Where it came from, for messages (`line 12`, `row 3`).
    public var origin: String

    /// - Parameters:
    ///   - id: the row id.
    ///   - request: the request body.
    ///   - origin: where it came from, for messages.
    public init(id: String, request: [String: JSONValue], origin: String) {
        self.id = id
        self.request = request
        self.origin = origin
    }

    /// The body as sent (keys sorted, so the same row always sends the same bytes).
    public var body: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(JSONValue.object(request))) ?? Data("{}".utf8))
    }

    /// The `Idempotency-Key` of the row's `attempt`-th submission (1 for the first): the same row sends the same
    /// key on every run, so a rerun is given the task it already has; a retry after a failed task needs a new
    /// task, hence a new key. A changed row is a new key too (the body is part of it).
    public func idempotencyKey(attempt: Int) -> String {
        var data = Array("\(id)\n".utf8)
        data += body
        let digest = SHA256.hash(data: data).prefix(16).map { String(format: "%02x", $0) }.joined()
        return "submit-\(digest)" + (attempt > 1 ? "-\(attempt)" : "")
    }

    /// The row id made safe as a file name part: letters, digits, `.`, `_` and `-` kept, the rest `_`.
    public var fileStem: String {
        let safe = id.unicodeScalars.map { scalar -> Character in
            let ok =
                (scalar.properties.isAlphabetic && scalar.isASCII) || ("0"..."9").contains(scalar)
                || scalar == "." || scalar == "_" || scalar == "-"
            return ok ? Character(scalar) : "_"
        }
        let stem = String(safe)
        return stem.isEmpty || stem.hasPrefix(".") ? "_" + stem : stem
    }
}
