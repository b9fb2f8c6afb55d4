import ComfySim
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// `Tests/Fixtures/webhook-receiver.py` on 127.0.0.1: every message checked by the `standardwebhooks` Python
/// package (the format's reference verifier), answered by a plan (`500,500,200`), and listed on `GET /received`.
final class WebhookReceiver: Sendable {
    let process: Process
    let input: Pipe
    let port: Int

    init(secret: String, plan: String = "200", slow: Double = 5) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = TestSupport.packageRoot.appendingPathComponent("Tests/Fixtures/webhook-receiver.py").path
        process.arguments = ["python3", script, "--secret", secret, "--plan", plan, "--slow", "\(slow)"]
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // The first line is "PORT <n>" (or nothing, when the script could not start).
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            process.terminate()
            throw ReceiverError(message: "webhook-receiver.py did not start (is `standardwebhooks` installed?)")
        }
        self.port = port
    }

    struct ReceiverError: Error { var message: String }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Every message received so far.
    func received() async throws -> [[String: Any]] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/received")!)
        return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

@Suite("Webhooks", .serialized)
struct WebhookTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let body = #"{"prompt": "a red fox in the snow", "seed": 7, "webhook_url": "URL"}"#

    /// The Standard Webhooks specification's own example.
    @Test func signaturesFollowTheStandard() throws {
        let secret = try #require(WebhookSecret(Self.secret))
        let signature = secret.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test(arguments: ["", "whsec_", "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_AAAA"])
    func secretsThatAreNotSecretsAreRefused(_ text: String) {
        #expect(WebhookSecret(text) == nil)
    }

    @Test func retriesBackOffWithJitterUpToTheCap() {
        var settings = WebhookSettings()
        #expect(settings.delay(beforeAttempt: 2, jitter: 0) == .seconds(5))
        #expect(settings.delay(beforeAttempt: 3, jitter: 0) == .seconds(15))
        #expect(settings.delay(beforeAttempt: 4, jitter: 0) == .seconds(45))
        #expect(settings.delay(beforeAttempt: 10, jitter: 0) == .seconds(21600))
        #expect(settings.delay(beforeAttempt: 2, jitter: 1) == .milliseconds(5500))
        #expect(settings.delay(beforeAttempt: 2, jitter: -1) == .milliseconds(4500))
        settings.maxRetryDelay = .seconds(60)
        #expect(settings.delay(beforeAttempt: 9, jitter: 0) == .seconds(60))
    }

    /// Runs a gateway whose webhooks go to a receiver on loopback with `plan`.
    func withHooks(
        plan: String = "200", slow: Double = 5, configure: @escaping (inout ServiceConfig) -> Void = { _ in },
        _ body: (GateServer, URL, WebhookReceiver) async throws -> Void
    ) async throws {
        let receiver = try WebhookReceiver(secret: Self.secret, plan: plan, slow: slow)
        defer { receiver.stop() }
        try await withGateway(
            configure: { config in
                config.webhooks.secret = WebhookSecret(Self.secret)
                config.webhooks.allowedHosts = ["127.0.0.1"]
                config.webhooks.retryDelay = .milliseconds(50)
                config.webhooks.maxRetryDelay = .milliseconds(200)
                configure(&config)
            }
        ) { server, base, _ in try await body(server, base, receiver) }
    }

    func submit(_ base: URL, webhook url: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        try await send(
            base, "POST", "/api/v1/generate", body: Self.body.replacingOccurrences(of: "URL", with: url),
            headers: headers)
    }

    /// The task's webhook messages once the first one has ended (delivered or failed).
    func settledWebhooks(_ base: URL, _ id: String, headers: [String: String] = [:]) async throws -> [[String: Any]] {
        var hooks: [[String: Any]] = []
        _ = try await TestSupport.eventually(timeout: .seconds(30)) {
            hooks =
                try await send(base, "GET", "/api/v1/task/\(id)", headers: headers).json["webhooks"]
                as? [[String: Any]] ?? []
            return hooks.first.map { $0["status"] as? String != "pending" } ?? false
        }
        return hooks
    }

    @Test func aFlakyReceiverGetsTheSameSignedMessageUntilItSays2xx() async throws {
        try await withHooks(plan: "500,500,200") { _, base, receiver in
            let accepted = try await submit(base, webhook: receiver.url)
            #expect(accepted.status == 202, "\(accepted.text)")
            let id = try #require(accepted.json["task_id"] as? String)
            let hooks = try await settledWebhooks(base, id)
            let hook = try #require(hooks.first)
            #expect(hooks.count == 1)
            #expect(hook["status"] as? String == "delivered")
            #expect(hook["event"] as? String == "task.completed")
            let attempts = hook["attempts"] as? [[String: Any]] ?? []
            #expect(attempts.map { $0["status"] as? Int } == [500, 500, 200])
            #expect(
                attempts.prefix(2).allSatisfy {
                    ($0["error"] as? [String: Any])?["code"] as? String == "webhook.status"
                })
            #expect(hook["next_attempt_at"] == nil)
            // What the receiver saw: three signed copies of one message, checked by the reference verifier.
            let received = try await receiver.received()
            #expect(received.count == 3)
            for message in received {
                #expect(message["verified"] as? Bool == true, "\(message["error"] ?? "")")
                #expect(message["webhook_id"] as? String == hook["id"] as? String)
                #expect(message["type"] as? String == "task.completed")
                #expect(message["task_id"] as? String == id)
                #expect(message["content_type"] as? String == "application/json")
                let data = (message["payload"] as? [String: Any])?["data"] as? [String: Any]
                let images = (data?["result"] as? [String: Any])?["images"] as? [[String: Any]]
                #expect(images?.count == 1)
                #expect((images?.first?["url"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
            }
            #expect(Set(received.compactMap { $0["webhook_id"] as? String }).count == 1)
        }
    }

    @Test func aReceiverThatNeverSays2xxIsGivenUpAfterMaxAttempts() async throws {
        try await withHooks(plan: "500", configure: { $0.webhooks.maxAttempts = 3 }) { _, base, receiver in
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["status"] as? String == "failed")
            #expect((hook["attempts"] as? [[String: Any]])?.count == 3)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await receiver.received().count == 3)
        }
    }

    @Test func aBase64TaskCarriesItsImagesInTheMessage() async throws {
        try await withHooks { _, base, receiver in
            let body = #"{"prompt": "a red fox", "response_format": "base64", "webhook_url": "\#(receiver.url)"}"#
            let id = try #require(
                try await send(base, "POST", "/api/v1/generate", body: body).json["task_id"] as? String)
            _ = try await settledWebhooks(base, id)
            let data = (try await receiver.received().first?["payload"] as? [String: Any])?["data"] as? [String: Any]
            let images = (data?["result"] as? [String: Any])?["images"] as? [[String: Any]] ?? []
            let served = try await send(base, "GET", "/output/\(images.first?["filename"] as? String ?? "")")
            #expect(images.count == 1 && Data(base64Encoded: images[0]["b64"] as? String ?? "") == served.body)
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        try await withHooks(plan: "302", configure: { $0.webhooks.maxAttempts = 1 }) { _, base, receiver in
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["status"] as? String == "failed")
            #expect((hook["attempts"] as? [[String: Any]])?.first?["status"] as? Int == 302)
            #expect(try await receiver.received().map { $0["path"] as? String } == ["/hook"])
        }
    }

    @Test func aSlowReceiverTimesOutAndABigAnswerIsCutButCounts() async throws {
        try await withHooks(
            plan: "slow,big", slow: 3, configure: { $0.webhooks.timeout = .milliseconds(500) }
        ) { _, base, receiver in
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["status"] as? String == "delivered")
            let attempts = hook["attempts"] as? [[String: Any]] ?? []
            #expect(attempts.count == 2)
            #expect((attempts.first?["error"] as? [String: Any])?["code"] as? String == "webhook.timeout")
            #expect(attempts.last?["status"] as? Int == 200)
        }
    }

    @Test func internalAddressesNeedAllowedHosts() async throws {
        try await withHooks(
            configure: {
                $0.webhooks.allowedHosts = []
                $0.webhooks.maxAttempts = 1
            }
        ) { _, base, receiver in
            // An address in the URL is refused at once.
            let literal = try await submit(base, webhook: receiver.url)
            #expect(literal.status == 422)
            #expect(
                (literal.json["error"] as? [String: Any])?["details"] as? [String: String] == ["field": "webhook_url"])
            // A name is refused when it resolves to one, on the connection itself.
            let named = try await submit(base, webhook: "http://localhost:\(receiver.port)/hook")
            #expect(named.status == 202, "\(named.text)")
            let id = try #require(named.json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["status"] as? String == "failed")
            let error = (hook["attempts"] as? [[String: Any]])?.first?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "webhook.address_refused")
            #expect(try await receiver.received().isEmpty)
        }
    }

    @Test(arguments: [
        ("ftp://example.com/hook", "request.invalid_value"),
        ("http://", "request.invalid_value"),
        ("not a url", "request.invalid_value"),
        ("http://user:pass@example.com/hook", "request.invalid_value"),
        ("http://10.1.2.3/hook", "request.invalid_value"),
        ("http://[::1]:9/hook", "request.invalid_value"),
        ("http://169.254.169.254/latest/meta-data", "request.invalid_value"),
    ])
    func badWebhookURLsAreRefusedAtSubmit(_ url: String, _ code: String) async throws {
        try await withHooks(configure: { $0.webhooks.allowedHosts = [] }) { server, base, _ in
            let answer = try await submit(base, webhook: url)
            #expect(answer.status == 422, "\(answer.text)")
            #expect(answer.errorCode == code)
            #expect(await server.dispatch.dispatcher.store.tasks(in: .queued).isEmpty)
        }
    }

    @Test func aWebhookNeedsASecret() async throws {
        try await withHooks(configure: { $0.webhooks.secret = nil }) { _, base, receiver in
            let answer = try await submit(base, webhook: receiver.url)
            #expect(answer.status == 422)
            #expect(answer.errorCode == "webhook.no_secret")
        }
    }

    @Test func aCancelledTaskIsAnnouncedToo() async throws {
        try await withHooks(
            configure: { $0.dispatch.backends = [.init(name: "gone", url: "http://127.0.0.1:9", maxInFlight: 1)] }
        ) { _, base, receiver in
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            #expect(try await send(base, "DELETE", "/api/v1/task/\(id)").status == 200)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["event"] as? String == "task.cancelled")
            #expect(hook["status"] as? String == "delivered")
            let received = try await receiver.received()
            #expect(received.first?["type"] as? String == "task.cancelled")
            #expect(received.first?["status"] as? String == "cancelled")
            #expect(received.first?["verified"] as? Bool == true)
        }
    }

    @Test func anExpiredTaskIsAnnounced() async throws {
        try await withHooks(
            configure: { config in
                config.dispatch.backends = [.init(name: "gone", url: "http://127.0.0.1:9", maxInFlight: 1)]
                config.dispatch.queueTimeout = .seconds(1)
            }
        ) { _, base, receiver in
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["event"] as? String == "task.expired" && hook["status"] as? String == "delivered")
            let message = try #require(try await receiver.received().first)
            #expect(message["verified"] as? Bool == true && message["status"] as? String == "expired")
        }
    }

    @Test func aFailedTaskIsAnnouncedWithItsError() async throws {
        let receiver = try WebhookReceiver(secret: Self.secret)
        defer { receiver.stop() }
        try await withGateway(
            configure: { config in
                config.webhooks.secret = WebhookSecret(Self.secret)
                config.webhooks.allowedHosts = ["127.0.0.1"]
            }
        ) { _, base, sims in
            sims.sims[0].setFaults(SimFaults(executionError: true))
            let id = try #require(try await submit(base, webhook: receiver.url).json["task_id"] as? String)
            let hook = try #require(try await settledWebhooks(base, id).first)
            #expect(hook["event"] as? String == "task.failed" && hook["status"] as? String == "delivered")
            let message = try #require(try await receiver.received().first)
            #expect(message["verified"] as? Bool == true && message["type"] as? String == "task.failed")
            let data = (message["payload"] as? [String: Any])?["data"] as? [String: Any]
            #expect((data?["error"] as? [String: Any])?["code"] as? String == "comfyui.execution_error")
        }
    }

    @Test func aKeysOwnSecretAndDefaultURLAreUsed() async throws {
        let keySecret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let receiver = try WebhookReceiver(secret: keySecret)
        defer { receiver.stop() }
        try await withHooks(
            configure: { config in
                config.security.enabled = true
                config.security.apiKeys = [APIKey(name: "shop", secret: "shop-key-123456")!]
                config.webhooks.keys["shop"] = .init(secret: WebhookSecret(keySecret), url: receiver.url)
            }
        ) { _, base, _ in
            let headers = ["X-API-Key": "shop-key-123456"]
            let accepted = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox in the snow"}"#, headers: headers)
            let id = try #require(accepted.json["task_id"] as? String, "\(accepted.text)")
            let hook = try #require(try await settledWebhooks(base, id, headers: headers).first)
            #expect(hook["url"] as? String == receiver.url)
            #expect(hook["status"] as? String == "delivered")
            #expect(try await receiver.received().first?["verified"] as? Bool == true)
        }
    }

    @Test func theOpenAPIDocumentDescribesTheMessage() async throws {
        try await withServer { _, base in
            let document = try await send(base, "GET", "/openapi.json").json
            let hook = (document["webhooks"] as? [String: Any])?["taskEnded"] as? [String: Any]
            let headers = ((hook?["post"] as? [String: Any])?["parameters"] as? [[String: Any]])?.map {
                $0["name"] as? String
            }
            #expect(headers == ["webhook-id", "webhook-timestamp", "webhook-signature"])
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
            let request = (schemas?["GenerationRequest"] as? [String: Any])?["properties"] as? [String: Any]
            #expect(request?["webhook_url"] != nil)
            let task = (schemas?["Task"] as? [String: Any])?["properties"] as? [String: Any]
            #expect(task?["webhooks"] != nil && schemas?["WebhookMessage"] != nil)
        }
    }

    @Test func configurationIsReadAndCheckedWithKeyPaths() throws {
        let config = try ServiceConfig.parse(
            """
            webhooks:
              secret: \(Self.secret)
              allowed_hosts: [127.0.0.1, hooks.internal]
              timeout: 2.5
              max_attempts: 4
              retry_delay: 1
              max_retry_delay: 60
              max_response_bytes: 1024
              concurrency: 2
            security:
              api_keys:
                - {name: shop, key: shop-key-123456, webhook_secret: \(Self.secret), webhook_url: "https://example.com/h"}
            """, file: "config.yaml")
        #expect(config.webhooks.secret == WebhookSecret(Self.secret))
        #expect(config.webhooks.allowedHosts == ["127.0.0.1", "hooks.internal"])
        #expect(config.webhooks.timeout == .milliseconds(2500))
        #expect(config.webhooks.maxAttempts == 4)
        #expect(config.webhooks.maxResponseBytes == 1024)
        #expect(config.webhooks.concurrency == 2)
        #expect(config.webhooks.keys["shop"]?.url == "https://example.com/h")
        for (text, path) in [
            ("webhooks: {secret: nope}", "webhooks.secret"),
            ("webhooks: {max_attempts: 0}", "webhooks.max_attempts"),
            ("webhooks: {retries: 3}", "webhooks.retries"),
            ("security: {api_keys: [{key: k, webhook_url: ftp://x}]}", "security.api_keys[0].webhook_url"),
        ] {
            #expect {
                _ = try ServiceConfig.parse(text, file: "config.yaml")
            } throws: { error in
                "\(error)".contains(path)
            }
        }
    }
}
