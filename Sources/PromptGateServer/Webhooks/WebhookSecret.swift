import Crypto
import Foundation

/// A Standard Webhooks signing secret, `whsec_` and base64 of 24 to 64 random bytes, and the signature it
/// makes: `v1,<base64 of HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")>`.
public struct WebhookSecret: Sendable, Equatable {
    static let prefix = "whsec_"
    private let key: [UInt8]

    /// From its text form; nil when it is not `whsec_` followed by base64 of 24 to 64 bytes.
    public init?(_ text: String) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        var encoded = String(text.dropFirst(Self.prefix.count))
        while encoded.count % 4 != 0 { encoded += "=" }
        guard let bytes = Data(base64Encoded: encoded), (24...64).contains(bytes.count) else { return nil }
        key = Array(bytes)
    }

    /// What a receiver puts in `webhook-signature` for this message.
    /// - Parameters:
    ///   - id: the `webhook-id`.
    ///   - timestamp: the `webhook-timestamp` (whole seconds since 1970).
    ///   - body: the body bytes as sent.
    public func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// What the problem is with a text that is not a secret (for configuration errors).
    static let expected =
        "expected 'whsec_' followed by base64 of 24 to 64 random bytes (e.g. from "
        + "`openssl rand -base64 32`)"
}
