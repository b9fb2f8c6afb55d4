@testable import PromptGateAccess
import PromptGateCore
import Testing
import Synchronization

@Suite("Addresses and CIDR blocks")
struct AddressTests {
    func cidrs(_ texts: [String]) throws -> CIDRSet { CIDRSet(try texts.map { try CIDR.parse($0).get() }) }

    @Test func parsesAndCanonicalisesMappedIPv4() throws {
        #expect(IPAddress("192.168.1.7") == .v4(0xC0A8_0107))
        #expect(IPAddress("::ffff:192.168.1.7") == .v4(0xC0A8_0107))
        #expect(IPAddress("::FFFF:c0a8:0107") == .v4(0xC0A8_0107))
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8::1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4 ", "[::1]", "fe80::1%eth0", "example.com"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func blocksMatchTheirFamily() throws {
        let set = try cidrs(["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "127.0.0.1"])
        #expect(set.contains(IPAddress("10.200.3.4")!))
        #expect(set.contains(IPAddress("::ffff:10.1.2.3")!))  // dual-stack socket view of an IPv4 client
        #expect(set.contains(IPAddress("192.168.1.255")!))
        #expect(!set.contains(IPAddress("192.168.2.1")!))
        #expect(set.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!set.contains(IPAddress("2001:db9::1")!))
        #expect(set.contains(IPAddress("127.0.0.1")!))
        #expect(!set.contains(IPAddress("127.0.0.2")!))
        #expect(try cidrs(["0.0.0.0/0"]).contains(IPAddress("8.8.8.8")!))
        #expect(!(try cidrs(["0.0.0.0/0"]).contains(IPAddress("::1")!)))
        #expect(try cidrs(["::/0"]).contains(IPAddress("::1")!))
    }

    @Test(arguments: [
        ("10.0.0.1/8", "host bits are set (did you mean 10.0.0.0/8?)"), ("10.0.0.0/33", "prefix length must be 0…32"),
        ("::ffff:10.0.0.0/104", "IPv4-mapped"), ("nonsense/8", "not an IPv4 or IPv6 address"),
        ("2001:db8::/129", "0…128"),
    ])
    func badBlocksSayWhy(text: String, reason: String) {
        guard case .failure(let error) = CIDR.parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.reason.contains(reason), "\(error)")
    }
}

@Suite("Client address behind proxies")
struct ClientAddressTests {
    let proxies = CIDRSet([try! CIDR.parse("10.0.0.0/8").get(), try! CIDR.parse("::1").get()])

    func resolve(_ peer: String, _ headers: [String]) -> ClientAddress.Resolution {
        ClientAddress.resolve(peer: IPAddress(peer)!, forwardedFor: headers, trustedProxies: proxies)
    }

    @Test func untrustedPeerIgnoresTheHeader() {
        // XFF spoofing from an untrusted peer: the header is not believed.
        #expect(resolve("203.0.113.9", ["1.2.3.4"]) == .client(IPAddress("203.0.113.9")!))
    }

    @Test func rightMostUntrustedEntryIsTheClient() {
        #expect(resolve("10.0.0.2", ["6.6.6.6, 198.51.100.7, 10.0.0.5"]) == .client(IPAddress("198.51.100.7")!))
        #expect(resolve("10.0.0.2", ["6.6.6.6", "198.51.100.7", "10.1.1.1"]) == .client(IPAddress("198.51.100.7")!))
        #expect(resolve("::1", ["::ffff:198.51.100.7"]) == .client(IPAddress("198.51.100.7")!))
        #expect(resolve("10.0.0.2", []) == .client(IPAddress("10.0.0.2")!))
        #expect(resolve("10.0.0.2", ["10.0.0.3, 10.0.0.4"]) == .client(IPAddress("10.0.0.3")!))
    }

    @Test func malformedEntryEndsTheWalk() {
        #expect(resolve("10.0.0.2", ["1.2.3.4, not-an-ip"]) == .malformed("not-an-ip"))
        // A malformed entry left of the client does not matter: the walk stops at the client.
        #expect(resolve("10.0.0.2", ["junk, 198.51.100.7"]) == .client(IPAddress("198.51.100.7")!))
    }
}

@Suite("API keys")
struct APIKeyTests {
    @Test func plaintextAndDigestKeys() throws {
        // sha256("s3cret-key") computed independently with `printf s3cret-key | sha256sum`.
        let digest = "sha256:817b823905cc7853f381992575a9041fcdb17fc70e776707abfb4d7c59ecbf3f"
        let plain = try #require(APIKey(name: "alice", secret: "alice-key-123", preset: "fashion-shop"))
        let store = APIKeyStore(keys: [plain])
        #expect(store.authenticate("alice-key-123")?.name == "alice")
        #expect(store.authenticate("alice-key-124") == nil)
        #expect(store.authenticate("") == nil)
        #expect(APIKey(name: "x", secret: "sha256:abc") == nil)
        #expect(APIKey(name: "x", secret: "") == nil)
        #expect(APIKeyStore(keys: [APIKey(name: "d", secret: digest)!]).authenticate("s3cret-key")?.name == "d")
    }

    @Test func digestEntryMatchesItsPlaintext() throws {
        let plain = try #require(APIKey(name: "p", secret: "correct horse battery staple"))
        let hex = plain.digest.map {
            String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16)
        }.joined()
        #expect(hex == "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a")  // sha256sum of the phrase
        let stored = try #require(APIKey(name: "bob", secret: "sha256:" + hex.uppercased()))
        #expect(APIKeyStore(keys: [stored]).authenticate("correct horse battery staple")?.name == "bob")
    }

    @Test func presentedKeyFromHeaders() {
        #expect(APIKeyStore.presentedKey(authorization: "Bearer abc", apiKeyHeader: nil) == "abc")
        #expect(APIKeyStore.presentedKey(authorization: "bearer   abc", apiKeyHeader: "x") == "abc")
        #expect(APIKeyStore.presentedKey(authorization: "Basic abc", apiKeyHeader: "k") == "k")
        #expect(APIKeyStore.presentedKey(authorization: nil, apiKeyHeader: nil) == nil)
        #expect(APIKeyStore.presentedKey(authorization: "Bearer ", apiKeyHeader: nil) == nil)
    }
}

@Suite("GCRA rate limiter")
struct RateLimiterTests {
    let second: UInt64 = 1_000_000_000

    @Test func burstThenSteadyRateLikeRedisCell() {
        // 60 per minute (1/s) with a burst of 4: five at once, the sixth waits one second.
        let limiter = RateLimiter()
        let policy = RateLimitPolicy(requestsPerMinute: 60, burst: 4)
        let start = 100 * second
        let decisions = (0..<6).map { _ in limiter.check(key: "a", policy: policy, now: start) }
        #expect(decisions.map(\.allowed) == [true, true, true, true, true, false])
        #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0, 0])
        #expect(decisions[5].retryAfter == second)
        #expect(decisions[4].resetAfter == 5 * second)
        #expect(limiter.check(key: "a", policy: policy, now: start + second).allowed)
        #expect(!limiter.check(key: "a", policy: policy, now: start + second).allowed)
        // Other keys have their own bucket.
        #expect(limiter.check(key: "b", policy: policy, now: start).allowed)
    }

    @Test func idleKeysAreForgotten() {
        let limiter = RateLimiter(maxKeys: 10_000)
        let policy = RateLimitPolicy(requestsPerMinute: 600, burst: 1)
        for i in 0..<3000 { _ = limiter.check(key: "k\(i)", policy: policy, now: UInt64(i)) }
        #expect(limiter.trackedKeys <= 3000)
        // Much later every bucket is full again; the periodic sweep drops them.
        for i in 0..<2048 { _ = limiter.check(key: "late\(i % 4)", policy: policy, now: 3600 * second + UInt64(i)) }
        #expect(limiter.trackedKeys <= 4)
    }

    @Test func hardCapBoundsMemory() {
        let limiter = RateLimiter(maxKeys: 1000)
        let policy = RateLimitPolicy(requestsPerMinute: 1, burst: 0)
        for i in 0..<5000 { _ = limiter.check(key: "k\(i)", policy: policy, now: 10 * second) }
        #expect(limiter.trackedKeys <= 1001)
    }

    @Test func limitReportsTheBucketAndRefusesWithRetryAfter() throws {
        let access = AccessControl(
            limiter: RateLimiter(), policy: RateLimitPolicy(requestsPerMinute: 60, burst: 1),
            clock: { 50 * 1_000_000_000 })
        var trace: [TraceEntry] = []
        let first = try access.admit(address: "1.2.3.4", presentedKey: nil, level: .submit, trace: &trace)
        #expect(first.rateLimit == RateLimitStatus(policy: "default", quota: 2, window: 2, remaining: 1, reset: 1))
        #expect(trace.map(\.stage) == ["rate_limit"] && trace[0].passed)
        _ = try access.admit(address: "1.2.3.4", presentedKey: nil, level: .submit, trace: &trace)
        do {
            _ = try access.admit(address: "1.2.3.4", presentedKey: nil, level: .submit, trace: &trace)
            Issue.record("third request allowed")
        } catch {
            #expect(error.kind == .rateLimited)
            #expect(error.code == "rate_limited")
            #expect(error.retryAfter == 1)
            #expect(error.rateLimit?.retryAfter == 1)
        }
        // Reading does not count against the budget; another client address is another bucket.
        _ = try access.admit(address: "1.2.3.4", presentedKey: nil, level: .read, trace: &trace)
        _ = try access.admit(address: "5.6.7.8", presentedKey: nil, level: .submit, trace: &trace)
    }
}

@Suite("Access control")
struct AccessStageTests {
    @Test func ipAllowlist() throws {
        let access = AccessControl(allowlist: CIDRSet([try CIDR.parse("192.168.1.0/24").get()]))
        var trace: [TraceEntry] = []
        for level in [AccessControl.Level.submit, .read, .operations] {
            _ = try access.admit(address: "192.168.1.20", presentedKey: nil, level: level, trace: &trace)
            _ = try access.admit(address: "::ffff:192.168.1.20", presentedKey: nil, level: level, trace: &trace)
        }
        for ip in ["192.168.2.1", "garbage", nil] as [String?] {
            #expect(
                throws: AccessError.forbidden(
                    ip == "192.168.2.1"
                        ? "client address 192.168.2.1 is not allowed"
                        : "the client address could not be determined (\(ip ?? "none"))")
            ) {
                try access.admit(address: ip, presentedKey: nil, level: .read, trace: &trace)
            }
        }
        // No allowlist: everyone.
        _ = try AccessControl().admit(address: nil, presentedKey: nil, level: .submit, trace: &trace)
    }

    @Test func apiKeySelectsCallerAndPreset() throws {
        let store = APIKeyStore(keys: [APIKey(name: "shop", secret: "k1", preset: "fashion-shop")!])
        let access = AccessControl(keys: store, requiresKey: true)
        var trace: [TraceEntry] = []
        let caller = try access.admit(address: "1.2.3.4", presentedKey: "k1", level: .submit, trace: &trace)
        #expect(caller == Caller(address: "1.2.3.4", keyName: "shop", preset: "fashion-shop"))
        for key in [nil, "k2"] as [String?] {
            do {
                _ = try access.admit(address: "1.2.3.4", presentedKey: key, level: .read, trace: &trace)
                Issue.record("accepted \(String(describing: key))")
            } catch {
                #expect(error.kind == .unauthenticated)
                #expect(error.code == (key == nil ? "auth.missing_key" : "auth.invalid_key"))
            }
        }
        // Admin routes need an admin key, even with keys off.
        #expect(throws: AccessError.notAdmin("shop")) {
            try access.admit(address: nil, presentedKey: "k1", level: .admin, trace: &trace)
        }
        #expect(throws: AccessError.self) {
            try AccessControl().admit(address: nil, presentedKey: nil, level: .admin, trace: &trace)
        }
    }
}

/// The shared rate limit as gateways use it (`countShared`), over an exact in-memory stand-in for the
/// database's GCRA row (the PostgreSQL upsert itself is tested with the store).
@Suite("Shared rate limit")
struct SharedRateLimitTests {
    /// One bucket row per key, stepped as the database does, on a clock the test holds still; counts steps.
    final class Row: SharedRateLimitState {
        private let state = Mutex((arrivals: [String: Int64](), steps: 0))
        let now: Int64

        init(now: Int64) { self.now = now }

        var steps: Int { state.withLock { $0.steps } }

        func rateLimitStep(bucket: String, emission: Int64, tolerance: Int64, wanted: Int) async throws
            -> (granted: Int, arrival: Int64, now: Int64)
        {
            try await Task.sleep(for: .microseconds(200))  // a round trip, so concurrent requests overlap
            return state.withLock { state in
                state.steps += 1
                let base = max(state.arrivals[bucket] ?? now, now)
                let fits = (now + tolerance - base) / emission
                guard fits >= 1 else { return (0, base, now) }
                let granted = min(Int64(wanted), fits)
                state.arrivals[bucket] = base + granted * emission
                return (Int(granted), base + granted * emission, now)
            }
        }
    }

    /// A gateway: its own local limiter and reserved batches, the shared row, a clock held at `now`.
    struct Gateway {
        let access: AccessControl
        let reservations = SharedRateLimitReservations()

        init(policy: RateLimitPolicy, now: UInt64) {
            access = AccessControl(limiter: RateLimiter(), policy: policy, sharesLimits: true, clock: { now })
        }

        func submit(_ row: Row) async -> Bool {
            var trace: [TraceEntry] = []
            do {
                var caller = try access.admit(address: "9.9.9.9", presentedKey: nil, level: .submit, trace: &trace)
                try await access.countShared(&caller, in: row, reservations: reservations, trace: &trace)
                return true
            } catch {
                return false
            }
        }
    }

    @Test(arguments: [
        // (requests a minute, burst): a slow key (one step per request), a busy key (batched).
        (60, 9), (600_000, 99), (6_000_000, 2_000),
    ])
    func gatewaysTogetherAllowTheConfiguredBurstAndNoMore(_ rate: Int, _ burst: Int) async {
        let policy = RateLimitPolicy(requestsPerMinute: rate, burst: burst)
        let row = Row(now: 1_765_000_000_000_000)  // microseconds: December 2025
        let gateways = (0..<3).map { _ in Gateway(policy: policy, now: 5_000_000_000) }
        var allowed = 0
        for index in 0..<(3 * (burst + 1) + 300) where await gateways[index % 3].submit(row) { allowed += 1 }
        // The clock stands still: exactly the burst, whichever gateways took it.
        #expect(allowed == burst + 1)
        // A slow key costs one step per allowed request; a busy one a batch per step; refusals are remembered.
        let batch = gateways[0].reservations.batch(for: policy)
        #expect(batch == max(1, min(burst + 1, Int(50_000_000 / policy.emissionInterval))))
        #expect(row.steps <= (burst + 1 + batch - 1) / batch + 2 * 3, "\(row.steps) steps for batches of \(batch)")
    }

    @Test func concurrentRequestsShareOneStepAndWasteNoBudget() async {
        // A busy key: 600,000 a minute (100 µs apart), burst 99: a batch is the whole burst.
        let policy = RateLimitPolicy(requestsPerMinute: 600_000, burst: 99)
        let row = Row(now: 1_765_000_000_000_000)
        let gateway = Gateway(policy: policy, now: 5_000_000_000)
        let allowed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<300 { group.addTask { await gateway.submit(row) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        // Every request the bucket allows is admitted (none lost to batches taken side by side), no more.
        #expect(allowed == 100)
        #expect(row.steps <= 3, "\(row.steps) steps")
    }
}
