import Foundation
import Logging
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

@Suite("HTTP API", .serialized)
struct ServerTests {
    @Test func healthStatusOpenAPI() async throws {
        var config = ServiceConfig()
        config.security.apiKeys = [APIKey(name: "ops", secret: "very-secret-key")!]
        try await withServer(config) { _, base in
            #expect(try await send(base, "GET", "/health").json["status"] as? String == "ok")
            let status = try await send(base, "GET", "/status")
            #expect(status.json["version"] as? String == PromptGateVersion.current)
            #expect(status.json["rules"] as? Int == 23)
            #expect((status.json["presets"] as? [String])?.contains("fashion-shop") == true)
            #expect(!status.text.contains("very-secret-key"))
            let summary = try #require(status.json["config"] as? [String: Any])
            #expect((summary["store"] as? [String: Any])?["synchronous"] as? String == "normal")
            #expect((summary["cache"] as? [String: Any])?["backend"] as? String == "memory")
            #expect(summary["backend_strategy"] as? String == "least_loaded" && summary["priority_levels"] as? Int == 3)
            #expect(status.text.contains("\"ops\""))
            let openapi = try await send(base, "GET", "/openapi.json")
            #expect(openapi.json["openapi"] as? String == "3.1.0")
            let paths = try #require(openapi.json["paths"] as? [String: [String: Any]])
            for (route, methods) in Endpoint.methodsByPath {
                let documented = try #require(paths[route], "route \(route) is missing from /openapi.json")
                for method in methods { #expect(documented[method.rawValue.lowercased()] != nil, "\(method) \(route)") }
            }
            #expect(Set(paths.keys) == Set(Endpoint.methodsByPath.keys))
            // Every endpoint of the route table is served (no 404 http.not_found, no 405).
            for endpoint in Endpoint.allCases {
                let path = endpoint.path.replacingOccurrences(of: "{id}", with: "missing").replacingOccurrences(
                    of: "{file}", with: "missing.png")
                let answer = try await send(
                    base, endpoint.method.rawValue, path, body: endpoint.method == .post ? "{}" : nil,
                    headers: ["Authorization": "Bearer very-secret-key"])
                #expect(
                    answer.errorCode != "http.not_found" && answer.status != 405,
                    "\(endpoint.method) \(path): \(answer.text)")
            }
        }
    }

    @Test func moderateAllowsOptimizesAndBlocks() async throws {
        try await withServer { _, base in
            let allowed = try await send(
                base, "POST", "/api/v1/moderate",
                body: #"{"id": 9, "prompt": "a red fox, 8K", "style": "anime", "seed": 3}"#)
            #expect(allowed.status == 200)
            #expect(allowed.json["decision"] as? String == "allow")
            #expect(allowed.json["id"] as? Int == 9)
            let request = try #require(allowed.json["request"] as? [String: Any])
            #expect(
                request["prompt"] as? String
                    == "a red fox, 8K, anime style, cel shading, vibrant colors, high quality, highly detailed, sharp focus"
            )
            // The default: 120 a minute, 51 at once (a window of 51 half-seconds).
            #expect(allowed.header("RateLimit-Policy") == #""default";q=51;w=26"#)
            #expect(allowed.header("RateLimit")?.hasPrefix(#""default";r=50;"#) == true)
            let blocked = try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "m.u.r.d.e.r scene"}"#)
            #expect(blocked.status == 200)
            #expect(blocked.json["decision"] as? String == "block")
            #expect(blocked.json["request"] == nil)
            let reason = try #require((blocked.json["reasons"] as? [[String: Any]])?.first)
            #expect(reason["rule_id"] as? String == "en-violence-terms")
            let traced = try await send(base, "POST", "/api/v1/moderate?trace=1", body: #"{"prompt": "a cat"}"#)
            #expect((traced.json["trace"] as? [[String: Any]])?.count == 11)  // rate_limit, then policy and optimizers
        }
    }

    @Test func everyErrorCode() async throws {
        var config = ServiceConfig()
        config.server.maxBodyBytes = 1024
        config.security.rateLimitEnabled = false  // more requests than the default burst
        try await withServer(config) { _, base in
            let cases: [(String, String, String?, Int, String)] = [
                ("POST", "/api/v1/moderate", #"{"prompt": "#, 400, "request.malformed_json"),
                ("POST", "/api/v1/moderate", "[1, 2]", 422, "request.wrong_type"),
                ("POST", "/api/v1/moderate", #"{"prompt": 5}"#, 422, "request.wrong_type"),
                ("POST", "/api/v1/moderate", #"{}"#, 422, "request.missing_field"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "steps": 500}"#, 422, "request.out_of_range"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "style": "cubism"}"#, 422, "request.unknown_name"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "preset": "nope"}"#, 422, "request.unknown_name"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x <lora:ghibsky:abc>"}"#, 422, "request.invalid_value"),
                (
                    "POST", "/api/v1/moderate", #"{"prompt": "x", "loras": [{"name": "ghibsky", "strength": 1}]}"#, 422,
                    "request.unknown_field"
                ),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "seed": 1.5}"#, 422, "request.wrong_type"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "seed": -2}"#, 422, "request.out_of_range"),
                ("POST", "/api/v1/moderate", #"{"prompt": "x", "id": [1]}"#, 422, "request.wrong_type"),
                (
                    "POST", "/api/v1/moderate", #"{"prompt": ""# + String(repeating: "a", count: 2000) + #""}"#, 413,
                    "request.too_large"
                ),
                ("GET", "/api/v1/moderate", nil, 405, "http.method_not_allowed"),
                ("DELETE", "/health", nil, 405, "http.method_not_allowed"),
                ("GET", "/no/such/route", nil, 404, "http.not_found"),
            ]
            for (method, path, body, status, code) in cases {
                let result = try await send(base, method, path, body: body)
                #expect(result.status == status, "\(method) \(path) \(body ?? "")")
                #expect(result.errorCode == code, "\(method) \(path): \(result.text)")
                #expect(result.header("Content-Type") == "application/json")
            }
            let fieldError = try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "x", "width": 1000}"#)
            #expect(
                ((fieldError.json["error"] as? [String: Any])?["details"] as? [String: String])?["field"] == "width")
            #expect(try await send(base, "GET", "/api/v1/moderate").header("Allow") == "POST")
        }
    }

    @Test func apiKeysPlainAndDigest() async throws {
        var config = ServiceConfig()
        config.security.enabled = true
        // of "correct horse battery staple"
        let digest = "sha256:" + "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a"
        config.security.apiKeys = [
            APIKey(name: "shop", secret: "shop-key-1", preset: "fashion-shop")!,
            APIKey(name: "digest", secret: digest)!,
        ]
        try await withServer(config) { _, base in
            let body = #"{"prompt": "a linen dress", "seed": 1}"#
            let missing = try await send(base, "POST", "/api/v1/moderate", body: body)
            #expect(missing.status == 401)
            // Access comes before the body: a caller without a key learns nothing about its body.
            #expect(try await send(base, "POST", "/api/v1/moderate", body: "{not json").status == 401)
            #expect(missing.errorCode == "auth.missing_key")
            #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let wrong = try await send(
                base, "POST", "/api/v1/moderate", body: body, headers: ["Authorization": "Bearer nope"])
            #expect(wrong.status == 401)
            #expect(wrong.errorCode == "auth.invalid_key")
            #expect(wrong.header("WWW-Authenticate")?.contains("invalid_token") == true)
            let shop = try await send(
                base, "POST", "/api/v1/moderate", body: body, headers: ["Authorization": "Bearer shop-key-1"])
            #expect(shop.status == 200)
            #expect(shop.json["caller"] as? String == "shop")
            #expect((shop.json["request"] as? [String: Any])?["preset"] as? String == "fashion-shop")
            let hashed = try await send(
                base, "POST", "/api/v1/moderate", body: body, headers: ["X-API-Key": "correct horse battery staple"])
            #expect(hashed.status == 200)
            #expect(hashed.json["caller"] as? String == "digest")
            #expect(try await send(base, "GET", "/health").status == 200)  // liveness needs no key
        }
    }

    @Test func ipAllowlistAndForwardedFor() async throws {
        var config = ServiceConfig()
        config.security.ipAllowlist = CIDRSet([try CIDR.parse("10.0.0.0/8").get()])
        try await withServer(config) { _, base in
            // The loopback peer is not allowed, and without trusted proxies a forged header changes nothing.
            let direct = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#, headers: ["X-Forwarded-For": "10.1.2.3"])
            #expect(direct.status == 403)
            #expect(direct.errorCode == "access.ip_not_allowed")
        }
        config.security.trustedProxies = CIDRSet([try CIDR.parse("127.0.0.1").get()])
        try await withServer(config) { _, base in
            let viaProxy = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                headers: ["X-Forwarded-For": "203.0.113.5, 10.1.2.3"])
            #expect(viaProxy.status == 200)
            // The left-most entry is the client's own claim; the right-most untrusted one decides.
            let spoof = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                headers: ["X-Forwarded-For": "10.1.2.3, 203.0.113.5"])
            #expect(spoof.status == 403)
            let malformed = try await send(
                base, "POST", "/api/v1/moderate", body: #"{"prompt": "x"}"#,
                headers: ["X-Forwarded-For": "10.1.2.3, bogus"])
            #expect(malformed.status == 400 && malformed.errorCode == "access.bad_forwarded_for")
        }
    }

    @Test func rateLimitHeadersAndRetryAfter() async throws {
        var config = ServiceConfig()
        config.security.rateLimit = RateLimitPolicy(requestsPerMinute: 6, burst: 1)
        try await withServer(config) { _, base in
            let body = #"{"prompt": "a cat"}"#
            let first = try await send(base, "POST", "/api/v1/moderate", body: body)
            #expect(first.header("RateLimit-Policy") == #""default";q=2;w=20"#)
            #expect(first.header("RateLimit")?.hasPrefix(#""default";r=1;"#) == true)
            _ = try await send(base, "POST", "/api/v1/moderate", body: body)
            let third = try await send(base, "POST", "/api/v1/moderate", body: body)
            #expect(third.status == 429)
            #expect(third.errorCode == "rate_limited")
            let retry = try #require(third.header("Retry-After").flatMap(Int.init))
            #expect(retry >= 1 && retry <= 10)  // one emission interval (10 s at 6/min)
            #expect(third.header("RateLimit")?.hasPrefix(#""default";r=0;"#) == true)
            let metrics = try await send(base, "GET", "/metrics").text
            #expect(metrics.contains(#"promptgate_access_refused_total{reason="rate_limited"} 1"#))
        }
    }

    /// A refusal says whose limit it was, what it allows, where it is set and when to retry; the access log
    /// line of every error answer carries its code and field.
    @Test func rateLimitRefusalNamesTheLimitAndTheLogLineTheCode() async throws {
        var config = ServiceConfig()
        config.security.rateLimit = RateLimitPolicy(requestsPerMinute: 6, burst: 1)
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("access.log").path
        let file = try LogFile(path: path)
        var logger = Logger(label: "promptgate") {
            LineLogHandler(label: $0, level: .info, format: .json, output: file)
        }
        logger.logLevel = .info
        try await withServer(config, logger: logger) { _, base in
            let body = #"{"prompt": "a cat"}"#
            for _ in 0..<2 { _ = try await send(base, "POST", "/api/v1/moderate", body: body) }
            let refused = try await send(base, "POST", "/api/v1/moderate", body: body)
            #expect(refused.status == 429)
            let error = try #require(refused.json["error"] as? [String: Any])
            let message = try #require(error["message"] as? String)
            #expect(message.hasPrefix("rate limit of address 127.0.0.1 exceeded: 6 requests a minute, 2 at once"))
            #expect(message.contains("security.rate_limit"))
            let details = try #require(error["details"] as? [String: Any])
            #expect(details["limit"] as? String == "address" && details["bucket"] as? String == "127.0.0.1")
            #expect(details["requests_per_minute"] as? Int == 6 && details["burst_limit"] as? Int == 1)
            #expect(details["setting"] as? String == "security.rate_limit")
            #expect((details["retry_after_seconds"] as? Int).map { String($0) } == refused.header("Retry-After"))
            let invalid = try await send(base, "GET", "/api/v1/task/nope")
            #expect(invalid.status == 404)
        }
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let requests = lines.filter { $0["message"] as? String == "request" }
        let statuses = requests.map { "\($0["status"] ?? "") \($0["error"] ?? "-")" }
        #expect(statuses.contains("429 rate_limited"), "\(statuses)")
        #expect(statuses.contains("200 -"), "\(statuses)")
    }

    /// The access log names the field a 422 was about.
    @Test func accessLogNamesTheFieldOfARefusedRequest() async throws {
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("access.log").path
        let file = try LogFile(path: path)
        var logger = Logger(label: "promptgate") {
            LineLogHandler(label: $0, level: .info, format: .json, output: file)
        }
        logger.logLevel = .info
        try await withServer(logger: logger) { _, base in
            let answer = try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "x", "steps": "twenty"}"#)
            #expect(answer.status == 422)
        }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let line = try #require(text.split(separator: "\n").first { $0.contains(#""status":"422""#) })
        #expect(line.contains(#""error":"request.wrong_type""#) && line.contains(#""field":"steps""#), "\(line)")
        // The request id once, under one name.
        #expect(line.components(separatedBy: "request_id").count == 2 && !line.contains("hb.request.id"), "\(line)")
    }

    @Test func metricsCountRequestsAndVerdicts() async throws {
        try await withServer { _, base in
            _ = try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "blood everywhere"}"#)
            _ = try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "a cat"}"#)
            _ = try await send(base, "GET", "/nope")
            _ = try await send(base, "PUT", "/api/v1/task/abc")
            let text = try await send(base, "GET", "/metrics").text
            #expect(text.contains(#"promptgate_http_requests_total{route="/api/v1/moderate",status="200"} 2"#))
            #expect(text.contains(#"promptgate_http_requests_total{route="unmatched",status="404"} 1"#))
            // A wrong method on a known route is counted under that route.
            #expect(text.contains(#"promptgate_http_requests_total{route="/api/v1/task/{id}",status="405"} 1"#))
            #expect(text.contains(#"promptgate_policy_verdicts_total{decision="block"} 1"#))
            #expect(text.contains(#"promptgate_policy_rule_hits_total{rule="en-gore-terms"} 1"#))
            #expect(text.contains(#"promptgate_policy_reasons_total{category="gore",action="block"} 1"#))
            #expect(text.contains("promptgate_pipeline_stage_duration_seconds_bucket{stage=\"blocklist\""))
        }
    }

    @Test func adminReloadKeepsOldRulesOnFailure() async throws {
        let folder = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pack = folder.appendingPathComponent("pack.yaml")
        try "rules:\n  - id: apples\n    category: fruit\n    terms: [apple]\n".write(
            to: pack, atomically: true, encoding: .utf8)
        var config = ServiceConfig()
        config.rulePaths = [folder.path]
        config.security.apiKeys = [
            APIKey(name: "admin", secret: "admin-key", isAdmin: true)!, APIKey(name: "user", secret: "user-key")!,
        ]
        try await withServer(config) { _, base in
            #expect(
                try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "an apple"}"#).json["decision"]
                    as? String == "block")
            try "rules:\n  - id: pears\n    category: fruit\n    terms: [pear]\n".write(
                to: pack, atomically: true, encoding: .utf8)
            #expect(try await send(base, "POST", "/admin/reload").status == 401)
            #expect(try await send(base, "POST", "/admin/reload", headers: ["X-API-Key": "user-key"]).status == 403)
            let reloaded = try await send(base, "POST", "/admin/reload", headers: ["X-API-Key": "admin-key"])
            #expect(reloaded.status == 200)
            #expect(
                try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "an apple"}"#).json["decision"]
                    as? String == "allow")
            #expect(
                try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "a pear"}"#).json["decision"]
                    as? String == "block")
            // A broken pack: the reload fails, says why, and the pear rule stays.
            try "rules:\n  - id: broken\n    category: x\n    pattern: '('\n".write(
                to: pack, atomically: true, encoding: .utf8)
            let failed = try await send(base, "POST", "/admin/reload", headers: ["X-API-Key": "admin-key"])
            #expect(failed.status == 422)
            #expect(failed.errorCode == "reload.failed")
            #expect(failed.text.contains("PCRE2"))
            #expect(
                try await send(base, "POST", "/api/v1/moderate", body: #"{"prompt": "a pear"}"#).json["decision"]
                    as? String == "block")
        }
    }
}

@Suite("Service configuration")
struct ServiceConfigTests {
    func problems(_ yaml: String) -> [LoadProblem] {
        do {
            _ = try ServiceConfig.parse(yaml, file: "config.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    @Test func defaultsWithoutAFile() {
        let config = ServiceConfig()
        #expect(config.server.host == "127.0.0.1" && config.server.port == 8000)
        #expect(!config.security.enabled)
        #expect(config.dispatch.maxConcurrent == 2)
    }

    @Test func theShapeUsersAlreadyWrite() throws {
        let yaml = """
            server: {host: "0.0.0.0", port: 8001, workers: 2}
            comfyui: {base_url: "http://localhost:8188", client_id: "promptgate"}
            workflow: {path: "./flux_workflow_api.json", output_node: "SaveImage"}
            queue: {max_concurrent: 2, max_queue_size: 100, priority_levels: 3, generation_timeout: 300, queue_timeout: 3600, max_retries: 3, retry_delay: 10, timeout: 300}
            models: {flux_model: null, loras: ["models/loras/a.safetensors"]}
            default_params: {steps: 20, cfg_scale: 7.5, sampler: "euler", scheduler: "normal"}
            gpu: {devices: [], strategy: "round_robin"}
            cache: {enabled: true, backend: "database", ttl: 86400}
            logging: {level: "INFO", format: "json", file: "/var/log/promptgate/app.log", rotation: "100 MB", retention: "30 days", extra_fields: {service: "promptgate"}, log_prompts: true}
            security:
              enabled: true
              api_keys:
                - "your-production-key-here"
                - {name: shop, sha256: "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a", preset: fashion-shop, rate_limit: {requests_per_minute: 600, burst_limit: 50}, admin: true}
              rate_limit: {enabled: true, requests_per_minute: 60, burst_limit: 10}
              ip_whitelist: ["192.168.1.0/24", "10.0.0.0/8"]
              trusted_proxies: ["127.0.0.1", "::1"]
            backends: [{name: gpu0, url: "http://10.0.0.5:8188", max_in_flight: 2}]
            rules: [rules/]
            presets: {paths: [presets/], default: fashion-shop}
            """
        let config = try ServiceConfig.parse(yaml, file: "config.yaml")
        #expect(config.server.port == 8001)
        #expect(config.security.apiKeys.map(\.name) == ["key-1", "shop"])
        #expect(config.security.apiKeys[1].isAdmin)
        #expect(config.security.apiKeys[1].rateLimit == RateLimitPolicy(requestsPerMinute: 600, burst: 50))
        #expect(config.security.ipAllowlist.contains(IPAddress("10.9.9.9")!))
        #expect(config.logging.level == .info && config.logging.logPrompts)
        #expect(config.dispatch.backends.first?.name == "gpu0")
        #expect(config.defaultPreset == "fashion-shop")
        #expect(config.dispatch.generationTimeout == .seconds(300))
        #expect(config.server.workers == 2 && config.dispatch.priorityLevels == 3)
        #expect(config.models == ["models/loras/a.safetensors"])
        #expect(config.defaultParams == DefaultParams(steps: 20, cfgScale: 7.5, sampler: "euler", scheduler: "normal"))
        #expect(config.dispatch.backendStrategy == .roundRobin)
        #expect(config.dispatch.cache.backend == .database && config.dispatch.cache.ttl == .seconds(86400))
    }

    /// Keys of the seed's config that PromptGate cannot honour are refused, each saying what to write instead.
    @Test(arguments: [
        ("models: {flux_model: \"models/unet/flux1-dev.safetensors\"}\n", "models.flux_model", "loader node"),
        ("gpu: {devices: [0, 1]}\n", "gpu.devices", "list them under 'backends'"),
        ("gpu: {strategy: random}\n", "gpu.strategy", "least_loaded, round_robin"),
        ("cache: {backend: redis}\n", "cache.backend", "no Redis client"),
        ("cache: {redis: {host: localhost}}\n", "cache.redis", "use 'memory'"),
        ("cache: {ttl: 0}\n", "cache.ttl", "from 1 to"),
        ("server: {workers: 0}\n", "server.workers", "from 1 to 256"),
        ("default_params: {steps: 500}\n", "default_params.steps", "from 1 to 150"),
    ])
    func unsupportedKeysSayWhatToWriteInstead(yaml: String, keyPath: String, text: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.keyPath == keyPath && $0.message.contains(text) }, "\(found)")
    }

    @Test func connectionAndAccessKeys() throws {
        let yaml = """
            server: {max_connections: 500, idle_timeout: 15, request_timeout: 2.5, shutdown_timeout: 0, backlog: 1024}
            security: {metrics_key: "scrape-me", rate_limit: {ipv6_prefix: 56}}
            """
        let config = try ServiceConfig.parse(yaml, file: "config.yaml")
        #expect(config.server.maxConnections == 500 && config.server.backlog == 1024)
        #expect(config.server.idleTimeout == .seconds(15) && config.server.requestTimeout == .milliseconds(2500))
        #expect(config.server.shutdownTimeout == .zero)
        #expect(config.security.metricsKey?.name == "metrics" && config.security.ipv6Prefix == 56)
        // The listen backlog asked for is the configured one, capped by the kernel's somaxconn.
        let somaxconn = try #require(SystemLimits.somaxconn())
        #expect(SystemLimits.backlog(configured: 1_000_000) == somaxconn)
        #expect(SystemLimits.backlog(configured: 64) == min(64, somaxconn))
    }

    @Test func dispatcherKeys() throws {
        let yaml = """
            server: {output_dir: /var/lib/promptgate/images, public_url: "https://gen.example.com/"}
            comfyui: {health_interval: 2.5, failure_threshold: 5, request_timeout: 60}
            workflow: {path: workflows/sd15-lora-txt2img.api.json, bindings: {seed: "3.seed", width: ["5.width", "9.width"]}}
            queue: {task_retention: 3600}
            """
        let config = try ServiceConfig.parse(yaml, file: "config.yaml")
        #expect(
            config.dispatch.outputDirectory == "/var/lib/promptgate/images"
                && config.server.publicURL == "https://gen.example.com")
        #expect(
            config.dispatch.healthInterval == .milliseconds(2500) && config.dispatch.failureThreshold == 5
                && config.dispatch.requestTimeout == .seconds(60))
        #expect(config.dispatch.bindings[.seed] == [.init(node: "3", input: "seed")])
        #expect(config.dispatch.bindings[.width]?.map(\.description) == ["5.width", "9.width"])
        #expect(config.dispatch.taskRetention == .seconds(3600))
        #expect(try ServiceConfig.parse("server: {public_url: null}\n", file: "c.yaml").server.publicURL == nil)
    }

    @Test(arguments: [
        ("servr: {port: 1}\n", "servr", "unknown key 'servr'"),
        ("server: {port: 70000}\n", "server.port", "from 0 to 65535"),
        ("server: {port: eighty}\n", "server.port", "expected an integer"),
        ("server: {bind: x}\n", "server.bind", "unknown key 'bind'"),
        ("security: {ip_whitelist: [\"10.0.0.1/8\"]}\n", "security.ip_whitelist[0]", "host bits are set"),
        ("security: {trusted_proxies: [\"::ffff:10.0.0.1\"]}\n", "security.trusted_proxies[0]", "IPv4-mapped"),
        ("security: {api_keys: [{name: a, key: x, sha256: y}]}\n", "security.api_keys[0]", "exactly one of"),
        ("security: {api_keys: [{name: a, sha256: abc}]}\n", "security.api_keys[0].sha256", "64 hexadecimal digits"),
        ("security: {api_keys: [a, {name: key-1, key: b}]}\n", "security.api_keys[1]", "duplicate key name"),
        ("logging: {level: loud}\n", "logging.level", "expected one of"),
        ("cache: {backend: disk}\n", "cache.backend", "expected memory or database, found 'disk'"),
        ("comfyui: {base_url: localhost}\n", "comfyui.base_url", "http:// or https://"),
        ("backends: [{name: a}]\n", "backends[0]", "needs 'name' and 'url'"),
        ("queue: {priority_levels: 5}\n", "queue.priority_levels", "from 1 to 3"),
        ("queue: {task_retention: 0}\n", "queue.task_retention", "from 1 to"),
        ("comfyui: {health_interval: 0}\n", "comfyui.health_interval", "from 0.05 to 3600"),
        ("server: {public_url: example.com}\n", "server.public_url", "http:// or https://"),
        ("workflow: {bindings: {sed: \"25.noise_seed\"}}\n", "workflow.bindings.sed", "unknown key 'sed'"),
        ("workflow: {bindings: {seed: [\"25\"]}}\n", "workflow.bindings.seed[0]", "expected 'node id.input name'"),
        ("server: [\n", "", "YAML syntax error"),
        ("server: {max_connections: 0}\n", "server.max_connections", "from 1 to"),
        ("server: {request_timeout: 0}\n", "server.request_timeout", "from 0.1 to 3600"),
        ("server: {idle_timeout: forever}\n", "server.idle_timeout", "expected a finite number"),
        ("server: {backlog: 100000}\n", "server.backlog", "from 1 to 65535"),
        ("security: {metrics_key: \"\"}\n", "security.metrics_key", "non-empty key"),
        ("security: {rate_limit: {ipv6_prefix: 16}}\n", "security.rate_limit.ipv6_prefix", "from 32 to 128"),
    ])
    func errorsNameTheKeyPath(yaml: String, keyPath: String, text: String) {
        let found = problems(yaml)
        #expect(
            found.contains { $0.keyPath == keyPath && $0.message.contains(text) && $0.file == "config.yaml" },
            "\(found)")
    }
}
