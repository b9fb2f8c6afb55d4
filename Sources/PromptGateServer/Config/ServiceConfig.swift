import Foundation
import Logging
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch

/// `config.yaml`: the shape users of ComfyUI-wrapping services already write (server, comfyui, workflow,
/// queue, models, default_params, gpu, cache, logging, security) plus what PromptGate adds (backends, rules,
/// presets, trusted proxies, per-key settings). Every field has a default, so no file at all is a valid
/// configuration. `config.example.yaml` documents every key.
public struct ServiceConfig: Sendable {
    /// `server`: where and how the HTTP API listens.
    public struct Server: Sendable {
        /// Address to listen on.
        public var host = "127.0.0.1"
        /// Port to listen on (0 picks a free one).
        public var port = 8000
        /// Event-loop threads serving HTTP (`server.workers`); nil: one per core.
        public var workers: Int?
        /// Largest accepted request body (413 above it, and the connection is closed).
        public var maxBodyBytes = 64 * 1024
        /// Most client connections open at once; over it a new connection gets a 503 and is closed. Nil: 3/4 of
        /// what the open-file limit leaves after a reserve (see `OpenFileLimit`).
        public var maxConnections: Int?
        /// A connection with no request in progress for this long is closed.
        public var idleTimeout: Duration = .seconds(60)
        /// Time from a request's first byte to its last; a slower request gets a 408 and the connection is closed.
        public var requestTimeout: Duration = .seconds(30)
        /// The longest a `POST /api/v1/generate` may hold its answer for `Prefer: wait=N` / `?wait=N`; a longer
        /// wait asked for is cut to it. Zero turns sync waits off (every generate answers 202 at once).
        public var maxWait: Duration = .seconds(60)
        /// `server.max_inline_bytes` (default 16 MiB): the most image bytes (before base64) a task body carries
        /// inline for `response_format: base64`.
        public var maxInlineBytes = 16 << 20
        /// A quiet `GET /api/v1/task/{id}/events` stream sends a comment this often, so proxies keep it open.
        public var eventHeartbeat: Duration = .seconds(15)
        /// On SIGTERM/SIGINT: how long requests in flight may take to finish before their connections are closed.
        public var shutdownTimeout: Duration = .seconds(10)
        /// Pending-connection queue of the listening socket (the kernel caps it at `net.core.somaxconn`).
        public var backlog = 4096
        /// Base of the image URLs in task results (e.g. `https://images.example.com`); without it the URL is
        /// built from the request's Host header.
        public var publicURL: String?
    }

    /// A ComfyUI server (`backends` entries), as the dispatcher's pool holds it.
    public typealias Backend = BackendPool.Backend

    /// `logging`: level, format and what goes into each line.
    public struct Logging: Sendable {
        /// Lowest level written.
        public var level = Logger.Level.info
        /// `json` (one object a line) or `text`.
        public var format = "json"
        /// Lines go to this file instead of standard error (reopened on SIGHUP).
        public var file: String?
        /// Rotate the file once it holds this many bytes (`logging.rotation`, e.g. "100 MB").
        public var rotationBytes: Int?
        /// Delete rotated copies older than this (`logging.retention`, e.g. "30 days").
        public var retention: Duration?
        /// Fields added to every line.
        public var extraFields: [String: String] = [:]
        /// Log prompt text (off by default: prompts may hold personal data).
        public var logPrompts = false
    }

    /// `security`: API keys, rate limits, the IP allowlist and trusted proxies.
    public struct Security: Sendable {
        /// Require an API key.
        public var enabled = false
        /// The configured keys.
        public var apiKeys: [APIKey] = []
        /// Whether requests are rate limited at all.
        public var rateLimitEnabled = true
        /// The limit per key, or per address without keys.
        public var rateLimit = RateLimitPolicy.defaultPolicy
        /// The key that may read `/metrics` (an admin key may too); nil: `/metrics` needs no key.
        public var metricsKey: APIKey?
        /// IPv6 addresses are limited per block of this many bits (`rate_limit.ipv6_prefix`).
        public var ipv6Prefix = 64
        /// Addresses allowed in (empty: all).
        public var ipAllowlist = CIDRSet([])
        /// Proxies whose `X-Forwarded-For` is believed.
        public var trustedProxies = CIDRSet([])
    }

    /// `server`.
    public var server = Server()
    /// `queue`, `comfyui`, `workflow`, `backends` and `server.output_dir`: the dispatcher's own settings,
    /// with their defaults declared in `DispatchSettings`.
    public var dispatch = DispatchSettings()
    /// `models.loras`: extra LoRA files every backend must have.
    public var models: [String] = []
    /// `default_params`: generation defaults for presets that leave them out (request > preset > these).
    public var defaultParams = DefaultParams()
    /// `logging`.
    public var logging = Logging()
    /// `security`.
    public var security = Security()
    /// `webhooks`: signing, allowed receivers and retries of task-end messages.
    public var webhooks = WebhookSettings()
    /// Rule pack files or folders; empty: the bundled packs.
    public var rulePaths: [String] = []
    /// Extra preset files or folders, and the preset used when neither the request nor its key names one.
    public var presetPaths: [String] = []
    /// The preset used when neither the request nor its key names one (`presets.default`); nil: the workflow's
    /// (`sd15` for the bundled SD 1.5 graph, `default` otherwise; see `BundledWorkflows.preset(for:)`).
    public var defaultPreset: String?
    /// Where the configuration came from ("defaults" when there is no file).
    public var source = "defaults"

    /// The defaults (what running without a file gives).
    public init() {}

    /// Reads a configuration file; every problem is reported with the key path and what was expected.
    public static func load(file: String) throws(ConfigError) -> ServiceConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(problems: [LoadProblem(file: file, keyPath: "", message: "cannot read the file")])
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ConfigError(problems: [LoadProblem(file: file, keyPath: "", message: "the file is not valid UTF-8")])
        }
        return try parse(text, file: file)
    }

    /// Parses configuration YAML (`file` names it in errors).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ServiceConfig {
        var config = ServiceConfig()
        config.source = file
        var reader = ConfigReader(problems: [])
        do {
            if let root = try YAMLCursor.parse(text, file: file) { reader.read(root, into: &config) }
        } catch {
            throw ConfigError(problems: error.problems)
        }
        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return config
    }
}
