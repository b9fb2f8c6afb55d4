import Logging
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch

/// Walks the configuration YAML section by section, collecting problems (key path + what was expected).
struct ConfigReader {
    var problems: [LoadProblem]

    mutating func read(_ root: YAMLCursor, into config: inout ServiceConfig) {
        let top: Set<String> = [
            "server", "comfyui", "workflow", "queue", "models", "default_params", "gpu", "cache", "logging", "security",
            "backends", "rules", "presets", "store", "webhooks",
        ]
        guard let sections = root.mapping(allowed: top, problems: &problems) else { return }
        if let s = section(
            sections["server"],
            [
                "host", "port", "workers", "max_body_bytes", "output_dir", "public_url", "max_connections",
                "idle_timeout", "request_timeout", "shutdown_timeout", "backlog", "max_wait", "event_heartbeat",
                "max_inline_bytes",
            ])
        {
            config.server.maxConnections = int(s["max_connections"], 1...1_000_000) ?? config.server.maxConnections
            config.server.idleTimeout = duration(s["idle_timeout"], 0.1...86400) ?? config.server.idleTimeout
            config.server.requestTimeout = duration(s["request_timeout"], 0.1...3600) ?? config.server.requestTimeout
            config.server.shutdownTimeout =
                duration(s["shutdown_timeout"], 0...3600) ?? config.server.shutdownTimeout
            config.server.backlog = int(s["backlog"], 1...65535) ?? config.server.backlog
            config.server.maxWait = duration(s["max_wait"], 0...3600) ?? config.server.maxWait
            config.server.maxInlineBytes =
                int(s["max_inline_bytes"], 0...(1 << 30)) ?? config.server.maxInlineBytes
            config.server.eventHeartbeat =
                duration(s["event_heartbeat"], 0.1...3600) ?? config.server.eventHeartbeat
            config.dispatch.outputDirectory = string(s["output_dir"]) ?? config.dispatch.outputDirectory
            config.server.publicURL = url(s["public_url"]).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            config.server.host = string(s["host"]) ?? config.server.host
            config.server.port = int(s["port"], 0...65535) ?? config.server.port
            config.server.workers = int(s["workers"], 1...256) ?? config.server.workers
            config.server.maxBodyBytes = int(s["max_body_bytes"], 1024...(64 << 20)) ?? config.server.maxBodyBytes
        }
        if let s = section(
            sections["store"], ["path", "synchronous", "url", "gateway_name", "lease_timeout", "sync_interval"])
        {
            config.dispatch.storePath = string(s["path"]) ?? config.dispatch.storePath
            if let cursor = s["url"], let url = string(cursor) {
                do throws(TaskStoreError) {
                    _ = try PostgresTaskStore.Location(url: url)
                } catch {
                    problems.append(cursor.problem(error.message))
                }
                if s["path"] != nil || s["synchronous"] != nil {
                    problems.append(cursor.problem("give store.url (PostgreSQL) or store.path (SQLite), not both"))
                } else {
                    config.dispatch.storeURL = url
                }
            }
            if let mode = oneOf(s["synchronous"], SQLiteTaskStore.Synchronous.allCases.map(\.rawValue)) {
                config.dispatch.storeSynchronous = SQLiteTaskStore.Synchronous(rawValue: mode) ?? .normal
            }
            // What only gateways sharing a PostgreSQL store use.
            for key in ["gateway_name", "lease_timeout", "sync_interval"] where s["url"] == nil {
                if let cursor = s[key] {
                    problems.append(cursor.problem("store.\(key) is for gateways sharing a PostgreSQL store.url"))
                }
            }
            if let cursor = s["gateway_name"], let name = string(cursor) {
                if name.trimmingCharacters(in: .whitespaces).isEmpty {
                    problems.append(cursor.problem("store.gateway_name must name this gateway (one name per gateway)"))
                } else {
                    config.dispatch.gatewayName = name
                }
            }
            config.dispatch.leaseTimeout = duration(s["lease_timeout"], 1...3600) ?? config.dispatch.leaseTimeout
            config.dispatch.syncInterval = duration(s["sync_interval"], 0.1...3600) ?? config.dispatch.syncInterval
        }
        if let s = section(
            sections["comfyui"],
            [
                "base_url", "client_id", "health_interval", "revalidate_interval", "failure_threshold",
                "request_timeout", "websocket",
            ])
        {
            config.dispatch.baseURL = url(s["base_url"]) ?? config.dispatch.baseURL
            config.dispatch.clientID = string(s["client_id"]) ?? config.dispatch.clientID
            config.dispatch.healthInterval =
                duration(s["health_interval"], 0.05...3600) ?? config.dispatch.healthInterval
            config.dispatch.revalidateInterval =
                duration(s["revalidate_interval"], 1...86400) ?? config.dispatch.revalidateInterval
            config.dispatch.failureThreshold = int(s["failure_threshold"], 1...100) ?? config.dispatch.failureThreshold
            config.dispatch.requestTimeout =
                duration(s["request_timeout"], 0.1...3600) ?? config.dispatch.requestTimeout
            config.dispatch.websocket = s["websocket"]?.bool(problems: &problems) ?? config.dispatch.websocket
        }
        if let s = section(sections["workflow"], ["path", "output_node", "bindings"]) {
            config.dispatch.workflowPath = string(s["path"]) ?? config.dispatch.workflowPath
            config.dispatch.outputNode = string(s["output_node"]) ?? config.dispatch.outputNode
            if let b = section(s["bindings"], Set(WorkflowBinding.Field.allCases.map(\.rawValue))) {
                for (key, cursor) in b {
                    guard let field = WorkflowBinding.Field(rawValue: key) else { continue }
                    let items: [YAMLCursor]
                    if case .sequence = cursor.node {
                        items = cursor.sequence(problems: &problems) ?? []
                    } else {
                        items = [cursor]
                    }
                    var inputs: [WorkflowBinding.Input] = []
                    for item in items {
                        guard let text = string(item) else { continue }
                        let parts = text.split(separator: ".", maxSplits: 1)
                        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                            problems.append(
                                item.problem("expected 'node id.input name' (e.g. '25.noise_seed'), found '\(text)'"))
                            continue
                        }
                        inputs.append(WorkflowBinding.Input(node: String(parts[0]), input: String(parts[1])))
                    }
                    if !inputs.isEmpty { config.dispatch.bindings[field] = inputs }
                }
            }
        }
        if let s = section(
            sections["queue"],
            [
                "max_concurrent", "max_queue_size", "priority_levels", "generation_timeout", "queue_timeout",
                "max_retries", "retry_delay", "timeout", "task_retention",
            ])
        {
            config.dispatch.maxConcurrent = int(s["max_concurrent"], 1...1024) ?? config.dispatch.maxConcurrent
            config.dispatch.maxQueueSize = int(s["max_queue_size"], 1...1_000_000) ?? config.dispatch.maxQueueSize
            config.dispatch.priorityLevels = int(s["priority_levels"], 1...3) ?? config.dispatch.priorityLevels
            // `timeout` is the older name; `generation_timeout` wins when both are given.
            config.dispatch.generationTimeout =
                seconds(s["generation_timeout"], 1...86400) ?? seconds(s["timeout"], 1...86400)
                ?? config.dispatch.generationTimeout
            config.dispatch.queueTimeout = seconds(s["queue_timeout"], 1...604_800) ?? config.dispatch.queueTimeout
            config.dispatch.maxRetries = int(s["max_retries"], 0...100) ?? config.dispatch.maxRetries
            config.dispatch.retryDelay = seconds(s["retry_delay"], 0...3600) ?? config.dispatch.retryDelay
            config.dispatch.taskRetention =
                seconds(s["task_retention"], 1...31_536_000) ?? config.dispatch.taskRetention
        }
        if let s = section(sections["models"], ["flux_model", "loras"]) {
            if let cursor = s["flux_model"], !isNull(cursor) {
                problems.append(
                    cursor.problem(
                        "the model is the file the workflow's loader node names (workflow.path); edit that node or "
                            + "bundle another workflow, and remove this key"))
            }
            config.models = s["loras"]?.strings(problems: &problems) ?? []
        }
        if let s = section(sections["default_params"], ["steps", "cfg_scale", "sampler", "scheduler"]) {
            config.defaultParams = DefaultParams(
                steps: int(s["steps"], 1...150), cfgScale: number(s["cfg_scale"], 0...100),
                sampler: string(s["sampler"]),
                scheduler: string(s["scheduler"]))
        }
        if let s = section(sections["gpu"], ["devices", "strategy"]) {
            if let cursor = s["devices"], !(cursor.sequence(problems: &problems) ?? []).isEmpty {
                problems.append(
                    cursor.problem(
                        "PromptGate talks to one ComfyUI per GPU: list them under 'backends' (e.g. "
                            + "- {name: gpu0, url: \"http://127.0.0.1:8188\"}) instead of device numbers"))
            }
            if let strategy = oneOf(s["strategy"], BackendPool.Strategy.allCases.map(\.rawValue)) {
                config.dispatch.backendStrategy = BackendPool.Strategy(rawValue: strategy) ?? .leastLoaded
            }
        }
        if let s = section(sections["cache"], ["enabled", "backend", "ttl", "redis"]) {
            config.dispatch.cache.enabled = s["enabled"]?.bool(problems: &problems) ?? config.dispatch.cache.enabled
            if let cursor = s["backend"], let name = string(cursor) {
                if let backend = ResultCacheSettings.Backend(rawValue: name) {
                    config.dispatch.cache.backend = backend
                } else {
                    problems.append(cursor.problem(Self.cacheBackendProblem(name)))
                }
            }
            if let ttl = int(s["ttl"], 1...31_536_000) { config.dispatch.cache.ttl = .seconds(ttl) }
            if let cursor = s["redis"], !isNull(cursor) {
                problems.append(cursor.problem(Self.cacheBackendProblem("redis")))
            }
        }
        if let s = section(
            sections["logging"], ["level", "format", "file", "rotation", "retention", "extra_fields", "log_prompts"])
        {
            if let level = oneOf(s["level"], Logger.Level.allCases.map(\.rawValue), caseInsensitive: true) {
                config.logging.level = Logger.Level(rawValue: level.lowercased()) ?? .info
            }
            config.logging.format = oneOf(s["format"], ["json", "text"]) ?? config.logging.format
            config.logging.file = string(s["file"])
            if let cursor = s["rotation"], let text = string(cursor) {
                if let bytes = LogFile.bytes(text), bytes >= 1024 {
                    config.logging.rotationBytes = bytes
                } else {
                    problems.append(
                        cursor.problem("expected a size of at least 1 KB, e.g. \"100 MB\", found '\(text)'"))
                }
                if config.logging.file == nil { problems.append(cursor.problem("rotation needs logging.file")) }
            }
            if let cursor = s["retention"], let text = string(cursor) {
                if let seconds = LogFile.seconds(text) {
                    config.logging.retention = .seconds(seconds)
                } else {
                    problems.append(
                        cursor.problem("expected an age, e.g. \"30 days\" or \"12 hours\", found '\(text)'"))
                }
                if config.logging.file == nil { problems.append(cursor.problem("retention needs logging.file")) }
            }
            for (key, value) in section(s["extra_fields"], nil) ?? [:] {
                if let text = string(value) { config.logging.extraFields[key] = text }
            }
            config.logging.logPrompts = s["log_prompts"]?.bool(problems: &problems) ?? false
        }
        if let s = section(
            sections["security"],
            ["enabled", "api_keys", "rate_limit", "ip_whitelist", "trusted_proxies", "metrics_key"])
        {
            readSecurity(
                s, into: &config.security, webhooks: &config.webhooks, tenants: &config.dispatch.tenantLimits)
        }
        if let s = section(
            sections["webhooks"],
            [
                "secret", "allowed_hosts", "timeout", "max_attempts", "retry_delay", "max_retry_delay",
                "max_response_bytes", "concurrency",
            ])
        {
            readWebhooks(s, into: &config.webhooks)
        }
        if let list = sections["backends"]?.sequence(problems: &problems) {
            for item in list {
                guard let b = section(item, ["name", "url", "max_in_flight"]) else { continue }
                guard let name = string(b["name"]), let url = url(b["url"]) else {
                    problems.append(item.problem("a backend needs 'name' and 'url'"))
                    continue
                }
                config.dispatch.backends.append(
                    .init(name: name, url: url, maxInFlight: int(b["max_in_flight"], 1...1024) ?? 1))
            }
        }
        config.rulePaths = sections["rules"]?.strings(problems: &problems) ?? []
        if let cursor = sections["presets"] {
            if case .sequence = cursor.node {
                config.presetPaths = cursor.strings(problems: &problems) ?? []
            } else if let p = section(cursor, ["paths", "default"]) {
                config.presetPaths = p["paths"]?.strings(problems: &problems) ?? []
                config.defaultPreset = string(p["default"]) ?? config.defaultPreset
            }
        }
    }

    /// Why a cache backend is refused, and what to write instead.
    static func cacheBackendProblem(_ name: String) -> String {
        let offered = ResultCacheSettings.Backend.allCases.map(\.rawValue).joined(separator: " or ")
        if name == "redis" {
            return "there is no Redis client in PromptGate: use 'memory' (this process) or 'database' (the task "
                + "store, kept across restarts); several gateways will share the PostgreSQL store"
        }
        return "expected \(offered), found '\(name)'"
    }

    private mutating func readWebhooks(_ s: [String: YAMLCursor], into webhooks: inout WebhookSettings) {
        webhooks.secret = secret(s["secret"]) ?? webhooks.secret
        webhooks.allowedHosts = s["allowed_hosts"]?.strings(problems: &problems) ?? webhooks.allowedHosts
        webhooks.timeout = duration(s["timeout"], 0.1...600) ?? webhooks.timeout
        webhooks.maxAttempts = int(s["max_attempts"], 1...100) ?? webhooks.maxAttempts
        webhooks.retryDelay = duration(s["retry_delay"], 0.01...86400) ?? webhooks.retryDelay
        webhooks.maxRetryDelay = duration(s["max_retry_delay"], 0.01...604_800) ?? webhooks.maxRetryDelay
        webhooks.maxResponseBytes = int(s["max_response_bytes"], 0...(16 << 20)) ?? webhooks.maxResponseBytes
        webhooks.concurrency = int(s["concurrency"], 1...256) ?? webhooks.concurrency
    }

    /// A `whsec_…` signing secret.
    private mutating func secret(_ cursor: YAMLCursor?) -> WebhookSecret? {
        guard let cursor, let text = string(cursor) else { return nil }
        guard let secret = WebhookSecret(text) else {
            problems.append(cursor.problem(WebhookSecret.expected))
            return nil
        }
        return secret
    }

    private mutating func readSecurity(
        _ s: [String: YAMLCursor], into security: inout ServiceConfig.Security, webhooks: inout WebhookSettings,
        tenants: inout [String: TenantLimits]
    ) {
        security.enabled = s["enabled"]?.bool(problems: &problems) ?? security.enabled
        if let r = section(s["rate_limit"], ["enabled", "requests_per_minute", "burst_limit", "ipv6_prefix"]) {
            security.rateLimitEnabled = r["enabled"]?.bool(problems: &problems) ?? true
            security.ipv6Prefix = int(r["ipv6_prefix"], 32...128) ?? security.ipv6Prefix
            security.rateLimit = RateLimitPolicy(
                requestsPerMinute: int(r["requests_per_minute"], 1...1_000_000) ?? security.rateLimit.requestsPerMinute,
                burst: int(r["burst_limit"], 0...100_000) ?? security.rateLimit.burst)
        }
        if let cursor = s["metrics_key"], let secret = string(cursor) {
            security.metricsKey = APIKey(name: "metrics", secret: secret)
            if security.metricsKey == nil {
                problems.append(cursor.problem("expected a non-empty key or 'sha256:<64 hex digits>'"))
            }
        }
        security.ipAllowlist = cidrs(s["ip_whitelist"])
        security.trustedProxies = cidrs(s["trusted_proxies"])
        var names = Set<String>()
        for (index, item) in (s["api_keys"]?.sequence(problems: &problems) ?? []).enumerated() {
            var key: APIKey?
            if case .scalar = item.node, let secret = string(item) {
                key = APIKey(name: "key-\(index + 1)", secret: secret)
                if key == nil { problems.append(item.problem("an API key must not be empty")) }
            } else if let k = section(
                item,
                [
                    "name", "key", "sha256", "preset", "rate_limit", "admin", "webhook_secret", "webhook_url",
                    "max_running", "max_queued",
                ])
            {
                let name = string(k["name"]) ?? "key-\(index + 1)"
                let plain = string(k["key"]), digest = string(k["sha256"])
                guard (plain == nil) != (digest == nil) else {
                    problems.append(item.problem("give exactly one of 'key' (plaintext) or 'sha256' (hex digest)"))
                    continue
                }
                var policy: RateLimitPolicy? = nil
                if let r = section(k["rate_limit"], ["requests_per_minute", "burst_limit"]) {
                    policy = RateLimitPolicy(
                        requestsPerMinute: int(r["requests_per_minute"], 1...1_000_000)
                            ?? security.rateLimit.requestsPerMinute,
                        burst: int(r["burst_limit"], 0...100_000) ?? security.rateLimit.burst)
                }
                let admin = k["admin"]?.bool(problems: &problems) ?? false
                let hook = WebhookSettings.KeyDefaults(secret: secret(k["webhook_secret"]), url: url(k["webhook_url"]))
                if hook != WebhookSettings.KeyDefaults() { webhooks.keys[name] = hook }
                let limits = TenantLimits(
                    maxRunning: int(k["max_running"], 1...100_000), maxQueued: int(k["max_queued"], 1...10_000_000))
                if limits != TenantLimits() { tenants[name] = limits }
                key = APIKey(
                    name: name, secret: plain ?? "sha256:" + (digest ?? ""), preset: string(k["preset"]),
                    rateLimit: policy, isAdmin: admin)
                if key == nil {
                    problems.append(
                        (k["sha256"] ?? k["key"] ?? item).problem(
                            "expected 64 hexadecimal digits (a SHA-256 digest) or a non-empty key"))
                }
            }
            if let key {
                if !names.insert(key.name).inserted {
                    problems.append(item.problem("duplicate key name '\(key.name)'"))
                }
                security.apiKeys.append(key)
            }
        }
    }

    // MARK: - Typed readers

    /// An explicit null (`~`, `null`, nothing) means "use the default".
    private func isNull(_ cursor: YAMLCursor?) -> Bool {
        guard let cursor, case .scalar(let scalar) = cursor.node, scalar.style == .plain else { return cursor == nil }
        return scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~"
    }

    private mutating func section(_ cursor: YAMLCursor?, _ keys: Set<String>?) -> [String: YAMLCursor]? {
        guard let cursor else { return nil }
        if case .scalar(let scalar) = cursor.node,
            scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~"
        {
            return [:]
        }
        return cursor.mapping(allowed: keys, problems: &problems)
    }

    private mutating func string(_ cursor: YAMLCursor?) -> String? {
        guard let cursor, !isNull(cursor) else { return nil }
        return cursor.string(problems: &problems)
    }

    private mutating func int(_ cursor: YAMLCursor?, _ range: ClosedRange<Int>) -> Int? {
        guard let cursor, !isNull(cursor), let value = cursor.int(problems: &problems) else { return nil }
        guard range.contains(value) else {
            problems.append(
                cursor.problem("expected an integer from \(range.lowerBound) to \(range.upperBound), found \(value)"))
            return nil
        }
        return value
    }

    private mutating func number(_ cursor: YAMLCursor?, _ range: ClosedRange<Double>) -> Double? {
        guard let cursor, !isNull(cursor), let value = cursor.double(problems: &problems) else { return nil }
        guard range.contains(value) else {
            problems.append(
                cursor.problem("expected a number from \(range.lowerBound) to \(range.upperBound), found \(value)"))
            return nil
        }
        return value
    }

    /// Whole seconds as a duration.
    private mutating func seconds(_ cursor: YAMLCursor?, _ range: ClosedRange<Int>) -> Duration? {
        int(cursor, range).map { .seconds($0) }
    }

    /// Seconds (fractions allowed) as a duration.
    private mutating func duration(_ cursor: YAMLCursor?, _ range: ClosedRange<Double>) -> Duration? {
        number(cursor, range).map { .milliseconds(Int64(($0 * 1000).rounded())) }
    }

    private mutating func oneOf(_ cursor: YAMLCursor?, _ allowed: [String], caseInsensitive: Bool = false) -> String? {
        guard let cursor, let value = cursor.string(problems: &problems) else { return nil }
        let matches = caseInsensitive ? allowed.contains(value.lowercased()) : allowed.contains(value)
        guard matches else {
            problems.append(cursor.problem("expected one of \(allowed.joined(separator: ", ")), found '\(value)'"))
            return nil
        }
        return value
    }

    private mutating func url(_ cursor: YAMLCursor?) -> String? {
        guard let cursor, !isNull(cursor), let value = cursor.string(problems: &problems) else { return nil }
        guard value.hasPrefix("http://") || value.hasPrefix("https://"), value.count > 8 else {
            problems.append(cursor.problem("expected an http:// or https:// URL, found '\(value)'"))
            return nil
        }
        return value
    }

    private mutating func cidrs(_ cursor: YAMLCursor?) -> CIDRSet {
        guard let cursor else { return CIDRSet([]) }
        var blocks: [CIDR] = []
        for item in cursor.sequence(problems: &problems) ?? [] {
            guard let text = item.string(problems: &problems) else { continue }
            switch CIDR.parse(text) {
            case .success(let block): blocks.append(block)
            case .failure(let error): problems.append(item.problem("\(error)"))
            }
        }
        return CIDRSet(blocks)
    }
}
