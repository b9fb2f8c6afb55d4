import PromptGateCore

/// A dispatcher refusal a caller can get: queue full (retry later), unknown task, a task that has already
/// ended, a store that failed.
public struct DispatchError: PromptGateError, Equatable {
    /// Stable code (`queue.full`, `task.not_found`, ...).
    public var code: String
    /// The kind the server maps to an HTTP status.
    public var kind: ErrorKind
    /// A sentence for the caller.
    public var message: String
    /// Seconds to wait before trying again (queue full).
    public var retryAfter: Int?
    /// Structured detail (each backend's reason when none can run the workflow).
    public var details: JSONValue?

    /// - Parameters:
    ///   - code: the stable code.
    ///   - kind: the failure class.
    ///   - message: what is wrong.
    ///   - retryAfter: seconds to wait before trying again.
    ///   - details: structured detail.
    public init(code: String, kind: ErrorKind, message: String, retryAfter: Int? = nil, details: JSONValue? = nil) {
        self.code = code
        self.kind = kind
        self.message = message
        self.retryAfter = retryAfter
        self.details = details
    }

    static func queueFull(capacity: Int, retryAfter: Int) -> DispatchError {
        DispatchError(
            code: "queue_full", kind: .rateLimited,
            message: "the queue is full (\(capacity) tasks waiting); try again in about \(retryAfter) s",
            retryAfter: retryAfter)
    }

    static func tenantQueueFull(tenant: String, limit: Int, retryAfter: Int) -> DispatchError {
        DispatchError(
            code: "quota.queued", kind: .rateLimited,
            message: "API key \(tenant) has \(limit) tasks waiting, its max_queued; try again in about \(retryAfter) s",
            retryAfter: retryAfter, details: ["limit": .number(Double(limit)), "key": .string(tenant)])
    }

    /// No such task (or not visible to the caller).
    public static func notFound(_ id: String) -> DispatchError {
        DispatchError(code: "task.not_found", kind: .notFound, message: "no task \(id)")
    }

    static func finished(_ task: GenerationTask) -> DispatchError {
        DispatchError(
            code: "task.finished", kind: .conflict,
            message: "task \(task.id) has already ended (\(task.status.rawValue))")
    }

    /// A store failure as the API answers it: 503 `store.unavailable` (retry shortly), 409 for a key taken
    /// meanwhile, 500 otherwise.
    public static func store(_ error: TaskStoreError) -> DispatchError {
        switch error.code {
        case "idempotency.duplicate": DispatchError(code: error.code, kind: .conflict, message: error.message)
        // The database is down or unreachable: worth retrying shortly (another gateway may reach it).
        case "store.unavailable":
            DispatchError(code: error.code, kind: .unavailable, message: error.message, retryAfter: 5)
        default: DispatchError(code: error.code, kind: .internal, message: error.message)
        }
    }
}
