import Foundation

/// One webhook message about a task's end, in the store's outbox: created in the same step as the terminal
/// move of a task that names a `webhookURL` (so a task never ends without its message, whatever crashes),
/// then sent and retried by the server's webhook sender until a receiver answers 2xx or the attempts run out.
/// Its `id` is the message's `webhook-id`, the same on every attempt and whichever gateway sends it.
public struct WebhookDelivery: Sendable, Equatable, Codable {
    /// Where the message is.
    public enum Status: String, Sendable, Codable {
        /// Waiting for its next attempt (`nextAttemptAt`).
        case pending
        /// A receiver answered 2xx.
        case delivered
        /// Every attempt failed.
        case failed
    }

    /// One try: when, how it ended (the HTTP status, or why none came), how long it took.
    public struct Attempt: Sendable, Equatable, Codable {
        /// When it was sent.
        public var at: Date
        /// The receiver's HTTP status; nil when no answer came.
        public var status: Int?
        /// Why it did not count as delivered (`webhook.status`, `webhook.timeout`, ...); nil for a 2xx.
        public var error: TaskReason?
        /// Seconds from sending to the answer (or the failure).
        public var seconds: Double

        /// - Parameters:
        ///   - at: when it was sent.
        ///   - status: the HTTP status, if an answer came.
        ///   - error: why it failed.
        ///   - seconds: how long it took.
        public init(at: Date, status: Int?, error: TaskReason?, seconds: Double) {
            self.at = at
            self.status = status
            self.error = error
            self.seconds = seconds
        }
    }

    /// `msg_<uuid>`: the `webhook-id` header.
    public let id: String
    /// The task it is about.
    public let taskID: String
    /// `task.completed`, `task.failed`, `task.cancelled` or `task.expired`.
    public let event: String
    /// The receiver.
    public let url: String
    /// When the event happened (the task's end): the payload's `timestamp`, the same on every attempt.
    public let createdAt: Date
    /// Where it is.
    public var status: Status = .pending
    /// When it is due next (or, while an attempt runs, when that attempt's claim lapses); nil once ended.
    public var nextAttemptAt: Date?
    /// Every try so far, oldest first.
    public var attempts: [Attempt] = []

    /// The message a store writes with a move of `task` from `previous` (nil: a new task, stored already ended,
    /// as a cache hit is): one when the task ends now and names a webhook, else nil. Every store calls this, so
    /// the rule is written once.
    public static func created(movingFrom previous: TaskStatus?, to task: GenerationTask, at now: Date = Date())
        -> WebhookDelivery?
    {
        guard previous.map({ !$0.isTerminal }) ?? true else { return nil }
        return WebhookDelivery(for: task, at: now)
    }

    /// The message for `task`'s end, due at once; nil when the task names no webhook or has not ended.
    public init?(for task: GenerationTask, at now: Date = Date()) {
        guard let url = task.webhookURL, task.status.isTerminal else { return nil }
        id = "msg_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        taskID = task.id
        event = "task." + task.status.rawValue
        self.url = url
        createdAt = task.finishedAt ?? now
        nextAttemptAt = now
    }
}
