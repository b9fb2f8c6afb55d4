import Foundation
import PromptGateAccess
import PromptGateCore

/// The `webhooks` section: how task-end messages are signed, where they may go, and how hard delivery tries.
public struct WebhookSettings: Sendable {
    /// `webhooks.secret`: the signing secret (`whsec_<base64>`) for callers whose API key has no
    /// `webhook_secret` (and for a service without keys). Nil: only keys with their own secret get webhooks.
    public var secret: WebhookSecret?
    /// `webhooks.allowed_hosts`: host names, addresses or CIDR blocks a receiver may be at although they are
    /// private, loopback or link-local (an internal receiver; tests use 127.0.0.1).
    public var allowedHosts: [String] = []
    /// `webhooks.timeout` (seconds, default 10): one attempt, connection to last byte.
    public var timeout: Duration = .seconds(10)
    /// `webhooks.max_attempts` (default 10): tries before a message is given up (`failed`).
    public var maxAttempts = 10
    /// `webhooks.retry_delay` (seconds, default 5): the wait after the first failed try; each next wait is three
    /// times the last (5 s, 15 s, 45 s, … ), up to `max_retry_delay`, with ±10 % jitter.
    public var retryDelay: Duration = .seconds(5)
    /// `webhooks.max_retry_delay` (seconds, default 21600 = 6 h): the longest wait between tries.
    public var maxRetryDelay: Duration = .seconds(21600)
    /// `webhooks.max_response_bytes` (default 65536): how much of a receiver's answer is read.
    public var maxResponseBytes = 65536
    /// `webhooks.concurrency` (default 8): messages sent at once by one gateway.
    public var concurrency = 8
    /// Per API key name: its `webhook_secret` and default `webhook_url` (`security.api_keys[]`).
    public var keys: [String: KeyDefaults] = [:]

    /// What an API key entry says about webhooks.
    public struct KeyDefaults: Sendable, Equatable {
        /// `webhook_secret`: signs the key's messages (instead of `webhooks.secret`).
        public var secret: WebhookSecret?
        /// `webhook_url`: where the key's tasks are announced when a request names no `webhook_url`.
        public var url: String?
    }

    /// Where a new task of `caller` is announced: the request's `webhook_url`, else the key's `webhook_url`;
    /// nil for neither.
    /// - Throws: 422 (field `webhook_url`) for a URL that is not http(s) with a host, carries user info, names an
    ///   internal address `allowed_hosts` does not allow, or cannot be signed (no secret for the caller).
    func target(requested: String?, caller: String?) throws(RequestError) -> String? {
        guard let url = requested ?? caller.flatMap({ keys[$0]?.url }) else { return nil }
        func refuse(_ code: String, _ detail: String) -> RequestError {
            RequestError(code: code, field: "webhook_url", detail: detail)
        }
        guard url.utf8.count <= 2048, let parts = URLComponents(string: url),
            let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = parts.host, !host.isEmpty
        else { throw refuse("request.invalid_value", "must be an http:// or https:// URL with a host, found '\(url)'") }
        guard parts.user == nil, parts.password == nil else {
            throw refuse("request.invalid_value", "must not carry a user name or password")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        if WebhookAddressPolicy(allowed: allowedHosts).refusesLiteral(bare) {
            throw refuse(
                "request.invalid_value",
                "points at \(bare), a private, loopback or link-local address (allow it in webhooks.allowed_hosts)")
        }
        guard secret(for: caller) != nil else {
            throw refuse(
                "webhook.no_secret",
                "cannot be signed: the API key has no webhook_secret and webhooks.secret is not set")
        }
        return url
    }

    /// The secret that signs messages for tasks of `caller` (an API key name; nil without keys).
    func secret(for caller: String?) -> WebhookSecret? {
        caller.flatMap { keys[$0]?.secret } ?? secret
    }

    /// The defaults.
    public init() {}

    /// The wait before try `next` (2 for the first retry), jittered by `jitter` in -1...1 (±10 %).
    func delay(beforeAttempt next: Int, jitter: Double) -> Duration {
        var seconds = retryDelay.seconds
        for _ in 2..<max(2, next) { seconds *= 3 }
        seconds = min(seconds, maxRetryDelay.seconds)
        return .milliseconds(Int64((seconds * (1 + 0.1 * jitter) * 1000).rounded()))
    }
}
