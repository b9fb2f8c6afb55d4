import Foundation
import Logging
import PromptGateAccess
import PromptGateTestSupport
import Testing

@testable import PromptGateServer

/// Access on every route, as a hostile client tries it: wrong keys throttled per address, `/status` and
/// `/metrics` behind the allowlist (and keys), IPv6 clients limited per prefix, forged forwarded entries refused.
@Suite("Access hardening")
struct AccessHardeningTests {
    static let keys = [
        APIKey(name: "shop", secret: "shop-key-123456")!,
        APIKey(name: "ops", secret: "ops-key-1234567", isAdmin: true)!,
    ]

    @Test(arguments: [
        ("/api/v1/moderate", "POST", ["X-API-Key": "wrong-key"]), ("/admin/reload", "POST", ["X-API-Key": "wrong-key"]),
        ("/admin/reload", "POST", ["X-API-Key": "shop-key-123456"]),  // a real key that is not an admin key
    ])
    func wrongKeysAreThrottledPerAddress(path: String, method: String, headers: [String: String]) async throws {
        var config = ServiceConfig()
        config.security.enabled = true
        config.security.apiKeys = Self.keys
        config.security.rateLimitEnabled = false  // the failure limit holds whatever the request limit says
        try await withServer(config) { _, base in
            let allowed = AccessControl.authFailurePolicy.burst + 1
            var statuses: [Int] = []
            let began = ContinuousClock.now
            for _ in 0..<(allowed + 5) {
                statuses.append(try await send(base, method, path, body: #"{"prompt": "x"}"#, headers: headers).status)
            }
            // The bucket refills one failure every 6 s: a loaded box that took longer may see one more 401 per 6 s.
            let refilled = Int((ContinuousClock.now - began).seconds / 6)
            #expect(statuses.prefix(allowed - 1).allSatisfy { $0 == 401 || $0 == 403 }, "\(statuses)")
            #expect(statuses.suffix(5).filter { $0 != 429 }.count <= refilled, "\(statuses)")
            #expect(statuses.last == 429 || refilled > 0, "\(statuses)")
            // Locked out: even the right key is not compared until the bucket refills.
            let right = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                headers: ["X-API-Key": "shop-key-123456"])
            // A busy box that took 6 s or more since the first failure has seen the bucket refill by one.
            if (ContinuousClock.now - began).seconds < 6 {
                #expect(right.status == 429 && right.errorCode == "auth.too_many_failures")
                let retry = try #require(right.header("Retry-After").flatMap(Int.init))
                #expect(retry >= 1 && retry <= 6)
            }
            // Without a key nothing is guessed: the answer stays 401.
            #expect(try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#).status == 401)
        }
    }

    @Test func statusAndMetricsHonourTheAllowlist() async throws {
        var config = ServiceConfig()
        config.security.ipAllowlist = CIDRSet([try CIDR.parse("10.0.0.0/8").get()])
        try await withServer(config) { _, base in
            for path in ["/status", "/metrics", "/admin/reload"] {
                let method = path == "/admin/reload" ? "POST" : "GET"
                let answer = try await send(base, method, path)
                #expect(answer.status == 403 && answer.errorCode == "access.ip_not_allowed", "\(path)")
            }
            #expect(try await send(base, "GET", "/health").status == 200)
        }
    }

    @Test func statusDetailsAreForAdminKeysWhenKeysAreOn() async throws {
        var config = ServiceConfig()
        config.security.enabled = true
        config.security.apiKeys = Self.keys
        try await withServer(config) { _, base in
            for headers in [[:], ["X-API-Key": "shop-key-123456"]] {
                let answer = try await send(base, "GET", "/status", headers: headers)
                #expect(answer.status == 200)
                #expect(answer.json["status"] as? String == "ok" && answer.json["version"] != nil)
                #expect(answer.json["config"] == nil && answer.json["dispatch"] == nil)
                #expect(!answer.text.contains("shop") && !answer.text.contains("8188"))
            }
            let admin = try await send(base, "GET", "/status", headers: ["X-API-Key": "ops-key-1234567"])
            #expect((admin.json["config"] as? [String: Any])?["api_keys"] as? [String] == ["shop", "ops"])
            #expect(admin.json["dispatch"] != nil)
            let wrong = try await send(base, "GET", "/status", headers: ["X-API-Key": "nope"])
            #expect(wrong.status == 401 && wrong.errorCode == "auth.invalid_key")
        }
    }

    @Test func metricsBehindTheMetricsKeyWhenOneIsSet() async throws {
        var config = ServiceConfig()
        config.security.apiKeys = Self.keys
        config.security.metricsKey = APIKey(name: "metrics", secret: "scrape-key-123")
        try await withServer(config) { _, base in
            let none = try await send(base, "GET", "/metrics")
            #expect(none.status == 401 && none.errorCode == "auth.missing_key")
            let scraper = try await send(base, "GET", "/metrics", headers: ["Authorization": "Bearer scrape-key-123"])
            #expect(scraper.status == 200 && scraper.text.contains("promptgate_http_requests_total"))
            #expect(try await send(base, "GET", "/metrics", headers: ["X-API-Key": "ops-key-1234567"]).status == 200)
            let shop = try await send(base, "GET", "/metrics", headers: ["X-API-Key": "shop-key-123456"])
            #expect(shop.status == 403 && shop.errorCode == "auth.not_admin")
            // The metrics key opens nothing else.
            let submit = try await send(
                base, "POST", "/admin/reload", headers: ["Authorization": "Bearer scrape-key-123"])
            #expect(submit.status == 401)
        }
    }

    @Test func ipv6ClientsAreLimitedPerPrefix() async throws {
        var config = ServiceConfig()
        config.security.trustedProxies = CIDRSet([try CIDR.parse("127.0.0.1").get()])
        config.security.rateLimit = RateLimitPolicy(requestsPerMinute: 1, burst: 4)
        try await withServer(config) { _, base in
            var allowed = 0
            for n in 1...20 {
                let answer = try await send(
                    base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                    headers: ["X-Forwarded-For": "2001:db8:1:2::\(String(n, radix: 16))"])
                if answer.status == 200 { allowed += 1 }
            }
            #expect(allowed == 5)  // one /64, one bucket: burst 4 + 1
            let neighbour = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                headers: ["X-Forwarded-For": "2001:db8:1:3::1"])
            #expect(neighbour.status == 200)  // the next /64 is another subscriber
        }
    }

    @Test(arguments: ["bogus-1", "fe80::1%eth0", "10.0.0.1, not-an-ip"])
    func unparsableForwardedEntriesAreRefusedWithoutAnAllowlist(_ header: String) async throws {
        var config = ServiceConfig()
        config.security.trustedProxies = CIDRSet([try CIDR.parse("127.0.0.1").get()])
        try await withServer(config) { _, base in
            let answer = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#, headers: ["X-Forwarded-For": header])
            #expect(answer.status == 400 && answer.errorCode == "access.bad_forwarded_for")
        }
    }

    @Test func textLogsEscapeControlCharacters() throws {
        let pipe = Pipe()
        let handler = LineLogHandler(label: "t", level: .info, format: .text, output: pipe.fileHandleForWriting)
        var logger = Logger(label: "t", factory: { _ in handler })
        logger.logLevel = .info
        logger.info("request", metadata: ["prompt": "a cat\n2026-01-01T00:00:00Z error forged: line\u{1b}[31m\\"])
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.filter { $0 == "\n" }.count == 1)
        #expect(text.contains(#"prompt=a cat\n2026-01-01T00:00:00Z error forged: line\u{1b}[31m\\"#))
    }
}
