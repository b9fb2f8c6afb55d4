/// Who the client is when requests may come through proxies.
///
/// The socket peer is the client unless it is a configured trusted proxy; then `X-Forwarded-For` is walked
/// from the right, skipping trusted proxies, and the first untrusted entry is the client (never the
/// left-most entry, which the client itself can write). An entry that does not parse ends the walk with
/// `.malformed`, so a forged header cannot slip past the allowlist.
public enum ClientAddress {
    /// The client found, or the header entry that did not parse.
    public enum Resolution: Sendable, Equatable {
        case client(IPAddress)
        case malformed(String)
    }

    /// - Parameters:
    ///   - peer: the socket's remote address.
    ///   - forwardedFor: every `X-Forwarded-For` header value, in order.
    ///   - trustedProxies: blocks whose addresses may set `X-Forwarded-For`.
    public static func resolve(peer: IPAddress, forwardedFor: [String], trustedProxies: CIDRSet) -> Resolution {
        guard trustedProxies.contains(peer) else { return .client(peer) }
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }.map {
            $0.trimmingPrefix(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
        }.map { String($0) }
        var client = peer
        for entry in entries.reversed() {
            guard let address = IPAddress(entry) else { return .malformed(entry) }
            client = address
            if !trustedProxies.contains(address) { return .client(address) }
        }
        // Every hop was a trusted proxy: the left-most one is as close to the client as we can get.
        return .client(client)
    }
}
