import Glibc

/// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what dual-stack sockets report for
/// IPv4 clients) are canonicalised to plain IPv4, so IPv4 CIDR entries match them.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Parses a textual address strictly (libc `inet_pton`); surrounding brackets and an IPv6 zone are
    /// not accepted. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let string = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, string, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, string, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        self.init(bytes16: bytes)
    }

    /// From network-order bytes: 4 for IPv4, 16 for IPv6 (IPv4-mapped ones unwrapped); nil for other lengths.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self.init(bytes16: bytes)
        default: return nil
        }
    }

    /// From the 16 bytes of an IPv6 address (network order), unwrapping IPv4-mapped ones.
    init(bytes16 bytes: [UInt8]) {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        if high == 0 && low >> 32 == 0xFFFF {
            self = .v4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .v6(high: high, low: low)
        }
    }

    /// Whether the text is an IPv4-mapped IPv6 address (refused in configuration, where it hides mistakes).
    static func isMappedForm(_ text: some StringProtocol) -> Bool {
        guard text.contains(":"), let address = IPAddress(text) else { return false }
        if case .v4 = address { return true }
        return false
    }

    /// Dotted quad or RFC 5952 text.
    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .v6(let high, let low):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { raw in
                for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i)) }
                for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i)) }
            }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a single-host block.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The network address (host bits cleared).
    public let address: IPAddress
    /// Prefix length in bits.
    public let prefix: Int

    /// Parses `address[/prefix]`. Host bits must be zero (`10.0.0.1/8` is a typo, not a block) and IPv4-mapped
    /// IPv6 forms are refused; the error says why.
    public static func parse(_ text: String) -> Result<CIDR, CIDRError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = parts[0].trimmingPrefix(while: \.isWhitespace)
        if IPAddress.isMappedForm(addressText) {
            return .failure(CIDRError(text: text, reason: "IPv4-mapped IPv6 form; write the IPv4 address"))
        }
        guard let address = IPAddress(addressText) else {
            return .failure(CIDRError(text: text, reason: "not an IPv4 or IPv6 address"))
        }
        let width: Int
        if case .v4 = address { width = 32 } else { width = 128 }
        var prefix = width
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...width).contains(value) else {
                return .failure(CIDRError(text: text, reason: "prefix length must be 0…\(width)"))
            }
            prefix = value
        }
        let block = CIDR(address: address, prefix: prefix)
        if let network = block.masked(address), network != address {
            return .failure(
                CIDRError(
                    text: text, reason: "host bits are set (did you mean \(CIDR(address: network, prefix: prefix))?)"))
        }
        return .success(block)
    }

    init(address: IPAddress, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// The block of `prefix` bits that holds `ip` (e.g. the /64 of an IPv6 client).
    init(containing ip: IPAddress, prefix: Int) {
        let probe = CIDR(address: ip, prefix: prefix)
        self.init(address: probe.masked(ip) ?? ip, prefix: prefix)
    }

    /// Whether `ip` lies in the block (IPv4 blocks only hold IPv4 addresses, and the same for IPv6).
    public func contains(_ ip: IPAddress) -> Bool { masked(ip) == address }

    private func masked(_ ip: IPAddress) -> IPAddress? {
        switch (address, ip) {
        case (.v4, .v4(let value)):
            let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
            return .v4(value & mask)
        case (.v6, .v6(let high, let low)):
            let highMask: UInt64 = prefix >= 64 ? ~0 : prefix == 0 ? 0 : ~UInt64(0) << UInt64(64 - prefix)
            let lowMask: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? ~0 : ~UInt64(0) << UInt64(128 - prefix)
            return .v6(high: high & highMask, low: low & lowMask)
        default:
            return nil
        }
    }

    /// `address/prefix`.
    public var description: String { "\(address)/\(prefix)" }
}

/// A CIDR entry that does not parse, with why.
public struct CIDRError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text that did not parse.
    public var text: String
    /// Why.
    public var reason: String
    /// `'text': reason`.
    public var description: String { "'\(text)': \(reason)" }
}

/// A list of blocks; `contains` is true when any block holds the address.
public struct CIDRSet: Sendable, Equatable {
    /// The blocks, in configuration order.
    public let blocks: [CIDR]

    /// A set of `blocks`.
    public init(_ blocks: [CIDR]) { self.blocks = blocks }

    /// Whether there are no blocks (an empty allowlist allows everyone).
    public var isEmpty: Bool { blocks.isEmpty }

    /// Whether any block contains `ip`.
    public func contains(_ ip: IPAddress) -> Bool { blocks.contains { $0.contains(ip) } }
}
