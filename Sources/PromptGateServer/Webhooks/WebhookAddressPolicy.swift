import PromptGateAccess

/// Which addresses a webhook may be delivered to: anything public; private (RFC 1918, unique-local),
/// loopback, link-local, carrier-grade NAT, multicast, reserved and unspecified addresses only when
/// `webhooks.allowed_hosts` names the URL's host, the address, or a block holding it. Checked on every
/// address curl connects to, so a public name that resolves to an internal address is refused too.
struct WebhookAddressPolicy: Sendable {
    /// Ranges a receiver on the public internet never has.
    static let internalRanges: CIDRSet = CIDRSet(
        [
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
            "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
            "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
        ].compactMap { try? CIDR.parse($0).get() })

    /// Host names (lowercased) allowed whatever they resolve to.
    let hosts: Set<String>
    /// Addresses and blocks allowed although internal.
    let networks: CIDRSet

    /// From `webhooks.allowed_hosts`: entries that parse as an address or CIDR block are networks, the rest
    /// host names.
    init(allowed: [String]) {
        var hosts: Set<String> = []
        var blocks: [CIDR] = []
        for entry in allowed {
            if let block = try? CIDR.parse(entry).get() {
                blocks.append(block)
            } else {
                hosts.insert(entry.lowercased())
            }
        }
        self.hosts = hosts
        networks = CIDRSet(blocks)
    }

    /// Whether a connection to `address` for a URL naming `host` may be made.
    func allows(_ address: IPAddress, host: String) -> Bool {
        if !Self.internalRanges.contains(address) { return true }
        return hosts.contains(host.lowercased()) || networks.contains(address)
    }

    /// Whether a host written as an address in the URL is refused already (names are checked when resolved).
    func refusesLiteral(_ host: String) -> Bool {
        guard let address = IPAddress(host) else { return false }
        return !allows(address, host: host)
    }
}
