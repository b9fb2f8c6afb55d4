import Crypto
import PromptGateCore

/// A key a caller may present, stored only as its SHA-256 digest.
public struct APIKey: Sendable, Equatable {
    /// The key's name: logs, metrics and task ownership use it, never the key itself.
    public var name: String
    /// SHA-256 of the key.
    public var digest: [UInt8]
    /// The preset its requests use when they name none.
    public var preset: String?
    /// Its own rate limit (nil: the server-wide one).
    public var rateLimit: RateLimitPolicy?
    /// Whether it may call `/admin` routes.
    public var isAdmin: Bool

    /// From a plaintext key (hashed at once) or a `sha256:<64 hex>` digest.
    public init?(
        name: String, secret: String, preset: String? = nil, rateLimit: RateLimitPolicy? = nil, isAdmin: Bool = false
    ) {
        if secret.hasPrefix("sha256:") {
            guard let digest = Self.hex(String(secret.dropFirst(7))), digest.count == 32 else { return nil }
            self.digest = digest
        } else {
            guard !secret.isEmpty else { return nil }
            digest = Array(SHA256.hash(data: Array(secret.utf8)))
        }
        self.name = name
        self.preset = preset
        self.rateLimit = rateLimit
        self.isAdmin = isAdmin
    }

    static func hex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}

/// The configured keys. A presented key is hashed and compared with every stored digest in constant time
/// (XOR-accumulate, no early exit), so timing tells nothing about which key or how much matched.
public struct APIKeyStore: Sendable {
    /// The configured keys, in configuration order.
    public let keys: [APIKey]

    /// A store over `keys`.
    public init(keys: [APIKey]) { self.keys = keys }

    /// Whether no key is configured.
    public var isEmpty: Bool { keys.isEmpty }

    /// The key matching `presented`, or nil.
    public func authenticate(_ presented: String) -> APIKey? {
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        var found: APIKey? = nil
        for key in keys {
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= key.digest[i] ^ digest[i] }
            if difference == 0 && found == nil { found = key }
        }
        return found
    }

    /// `Bearer <key>` from `Authorization`, else the `X-API-Key` value.
    public static func presentedKey(authorization: String?, apiKeyHeader: String?) -> String? {
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingPrefix(while: \.isWhitespace)
                if !token.isEmpty { return String(token) }
            }
        }
        if let apiKeyHeader, !apiKeyHeader.isEmpty { return apiKeyHeader }
        return nil
    }
}
