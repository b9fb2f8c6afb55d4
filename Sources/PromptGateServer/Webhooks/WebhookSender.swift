import Foundation
import Logging
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
import ServiceLifecycle

/// Sends the store's webhook outbox (`WebhookDelivery`) in the Standard Webhooks format: each message is
/// `POST`ed with `webhook-id` (the message id, the same on every attempt), `webhook-timestamp` and
/// `webhook-signature` (`v1,` + base64 HMAC-SHA256 under the caller's `whsec_` secret), its body
/// `{"type": "task.completed", "timestamp": …, "data": <the body of GET /api/v1/task/{id}>}`. A 2xx ends it;
/// anything else (another status, a timeout, a refused address) is recorded on the message and tried again
/// after `WebhookSettings.delay`, until `max_attempts`. Messages are claimed with a lease, so a sender that
/// dies mid-attempt leaves the message due again, and several gateways on one store never send it twice
/// at once. It looks at the outbox after every task end and every `poll` otherwise.
public struct WebhookSender: Service {
    let server: GateServer
    let poll: Duration
    /// Outbound HTTP with `webhooks.allowed_hosts` applied to every address connected to.
    let client: OutboundHTTP

    /// - Parameters:
    ///   - server: the gateway whose store, keys and task rendering it uses.
    ///   - poll: how often the outbox is read when no end wakes it (retries falling due, ends elsewhere).
    public init(server: GateServer, poll: Duration = .seconds(1)) {
        self.server = server
        self.poll = poll
        let policy = WebhookAddressPolicy(allowed: server.config.webhooks.allowedHosts)
        client = OutboundHTTP { bytes, host in
            IPAddress(bytes: bytes).map { policy.allows($0, host: host) } ?? false
        }
    }

    /// Sends until cancelled (graceful shutdown); an attempt under way then is left to its lease. With no
    /// signing secret configured no task can name a webhook, and it only waits for the end.
    public func run() async throws {
        let settings = server.config.webhooks
        guard settings.secret != nil || settings.keys.values.contains(where: { $0.secret != nil }) else {
            try? await gracefulShutdown()
            return
        }
        let ends = server.dispatch.dispatcher.endSignals()
        let (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in ends { wakeup.yield() }
                }
                group.addTask { [poll] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: poll)
                        wakeup.yield()
                    }
                }
                wakeup.yield()
                for await _ in wakeups {
                    if Task.isCancelled { break }
                    await sendDue()
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wakeup.finish()
        }
    }

    /// Claims what is due and sends it, `concurrency` at a time, until nothing is due.
    func sendDue() async {
        let settings = server.config.webhooks
        let store = server.dispatch.dispatcher.store
        // Long enough for an attempt to end (or time out) before anyone else may take the message.
        let lease = settings.timeout * 2 + .seconds(5)
        while !Task.isCancelled {
            let due = await store.claimWebhooks(dueBy: Date(), lease: lease, limit: settings.concurrency)
            if due.isEmpty { return }
            await withTaskGroup(of: Void.self) { group in
                for message in due { group.addTask { await attempt(message) } }
            }
        }
    }

    /// One try of one message, recorded on it.
    func attempt(_ message: WebhookDelivery) async {
        let settings = server.config.webhooks
        let store = server.dispatch.dispatcher.store
        var message = message
        let started = Date()
        let clock = ContinuousClock.now
        var status: Int?
        var failure: TaskReason?
        if let task = await store.task(id: message.taskID) {
            do {
                status = try await send(message, about: task)
                if let code = status, !(200..<300).contains(code) {
                    failure = TaskReason(
                        code: "webhook.status", message: "the receiver answered \(code); only a 2xx ends the delivery")
                }
            } catch let error as OutboundHTTP.Failure {
                failure = TaskReason(code: error.code, message: error.message)
            } catch let refusal as Refusal {
                failure = refusal.reason
            } catch {
                failure = TaskReason(code: "webhook.bad_payload", message: "the message could not be written: \(error)")
            }
        } else {
            failure = TaskReason(code: "webhook.task_gone", message: "the task was removed before the message went out")
        }
        let seconds = (ContinuousClock.now - clock).seconds
        message.attempts.append(.init(at: started, status: status, error: failure, seconds: seconds))
        let final = failure?.code == "webhook.task_gone" || failure?.code == "webhook.no_secret"
        if failure == nil {
            message.status = .delivered
            message.nextAttemptAt = nil
        } else if final || message.attempts.count >= settings.maxAttempts {
            message.status = .failed
            message.nextAttemptAt = nil
        } else {
            let wait = settings.delay(beforeAttempt: message.attempts.count + 1, jitter: .random(in: -1...1))
            message.nextAttemptAt = Date().addingTimeInterval(wait.seconds)
        }
        await store.updateWebhook(message)
        server.metrics.webhookAttempt(outcome: failure == nil ? "delivered" : "failed", seconds: seconds)
        if let failure {
            server.logger.notice(
                "webhook attempt failed",
                metadata: [
                    "task": "\(message.taskID)", "webhook_id": "\(message.id)", "attempt": "\(message.attempts.count)",
                    "code": "\(failure.code)", "error": "\(failure.message)",
                    "next": "\(message.nextAttemptAt.map { "\($0)" } ?? "none (\(message.status.rawValue))")",
                ])
        }
    }

    /// Signs and posts the message; returns the receiver's status.
    private func send(_ message: WebhookDelivery, about task: GenerationTask) async throws -> Int {
        let settings = server.config.webhooks
        guard let secret = settings.secret(for: task.caller) else {
            throw Refusal(
                reason: TaskReason(
                    code: "webhook.no_secret",
                    message: "no webhook_secret for the task's key and no webhooks.secret: the message cannot be signed"
                ))
        }
        let body = try await payload(message, about: task)
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            "Content-Type: application/json",
            "User-Agent: PromptGate/\(PromptGateVersion.current)",
            "webhook-id: \(message.id)",
            "webhook-timestamp: \(timestamp)",
            "webhook-signature: \(secret.signature(id: message.id, timestamp: timestamp, body: body))",
        ]
        return try await client.post(
            message.url, headers: headers, body: body, timeout: settings.timeout,
            maxResponseBytes: settings.maxResponseBytes)
    }

    /// `{"type", "timestamp", "data"}`: the event, when it happened, and the task as GET /task shows it.
    func payload(_ message: WebhookDelivery, about task: GenerationTask) async throws -> [UInt8] {
        struct Payload: Encodable {
            var type: String
            var timestamp: String
            var data: TaskResponse
        }
        let shown = TaskResponse(
            server.dispatch.dispatcher.view(of: task), imageBase: server.publicBase,
            inline: await server.inline.load(task))
        let payload = Payload(
            type: message.event, timestamp: TaskResponse.time.format(message.createdAt), data: shown)
        return try JSONWriter.encode(payload)
    }
}

/// A message that cannot be sent as things are (no secret to sign it with).
private struct Refusal: Error {
    var reason: TaskReason
}
