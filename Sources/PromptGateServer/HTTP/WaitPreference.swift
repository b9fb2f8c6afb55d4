import Foundation
import HTTPTypes
import Hummingbird
import PromptGateCore

/// How long `POST /api/v1/generate` may hold its answer for the task to end: `?wait=N` or the `wait`
/// preference of `Prefer` (RFC 7240: `Prefer: wait=10`, among other preferences, comma-separated, each with
/// optional `;` parameters), in whole seconds, cut to `server.max_wait`. The query wins when both are given.
struct WaitPreference: Equatable {
    /// The seconds asked for.
    var requested: Int
    /// The seconds the answer will wait: `requested` cut to `server.max_wait`.
    var seconds: Int

    static let prefer = HTTPField.Name("Prefer")!
    static let preferenceApplied = HTTPField.Name("Preference-Applied")!

    /// The wait the request asks for; nil when it asks for none (or zero, or `server.max_wait` is zero).
    /// - Throws: 422 `request.invalid_value` naming `wait` or `Prefer` when the value is not whole seconds.
    init?(_ request: Request, limit: Duration) throws(RequestError) {
        let asked: Int
        if let text = request.uri.queryParameters["wait"] {
            guard let value = Self.seconds(String(text)) else {
                throw RequestError(
                    code: "request.invalid_value", field: "wait",
                    detail: "must be a whole number of seconds (0 or more), found '\(text)'")
            }
            asked = value
        } else if let text = Self.preference(in: request.headers[values: Self.prefer]) {
            guard let value = Self.seconds(text) else {
                throw RequestError(
                    code: "request.invalid_value", field: "Prefer",
                    detail: "wait must be a whole number of seconds (0 or more), found '\(text)'")
            }
            asked = value
        } else {
            return nil
        }
        let cap = Int(limit.components.seconds)
        guard asked > 0, cap > 0 else { return nil }
        requested = asked
        seconds = min(asked, cap)
    }

    /// `Preference-Applied: wait=N`, the wait this answer honoured.
    var appliedHeader: HTTPFields { [Self.preferenceApplied: "wait=\(seconds)"] }

    /// The value of the `wait` preference among `Prefer` field values (names are case-insensitive; a quoted
    /// value is unquoted); nil when none names it.
    static func preference(in values: [String]) -> String? {
        for value in values {
            for item in value.split(separator: ",") {
                let token = item.split(separator: ";", maxSplits: 1).first ?? ""
                let parts = token.split(separator: "=", maxSplits: 1)
                guard let name = parts.first, name.trimmingCharacters(in: .whitespaces).lowercased() == "wait" else {
                    continue
                }
                guard parts.count == 2 else { return "" }
                var text = parts[1].trimmingCharacters(in: .whitespaces)
                if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
                    text = String(text.dropFirst().dropLast())
                }
                return text
            }
        }
        return nil
    }

    /// Whole non-negative seconds (RFC 7240's delta-seconds), nil for anything else.
    private static func seconds(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text.prefix(10)).map { text.count > 10 ? Int.max : $0 }
    }
}
