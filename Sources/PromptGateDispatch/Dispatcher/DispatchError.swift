import PromptGateCore

/// A dispatcher refusal a caller can get: queue full (429 + Retry-After), unknown task (404), a task that
/// has already ended (409).
public struct DispatchError: PromptGateError, Equatable {
    public var code: String
    public var httpStatus: Int
    public var message: String
    /// Seconds to wait before trying again (queue full).
    public var retryAfter: Int?

    public var responseHeaders: [(name: String, value: String)] {
        retryAfter.map { [("Retry-After", String($0))] } ?? []
    }

    static func queueFull(capacity: Int, retryAfter: Int) -> DispatchError {
        DispatchError(
            code: "queue_full", httpStatus: 429,
            message: "the queue is full (\(capacity) tasks waiting); try again in about \(retryAfter) s", retryAfter: retryAfter)
    }

    public static func notFound(_ id: String) -> DispatchError {
        DispatchError(code: "task.not_found", httpStatus: 404, message: "no task \(id)")
    }

    static func finished(_ task: GenerationTask) -> DispatchError {
        DispatchError(code: "task.finished", httpStatus: 409, message: "task \(task.id) has already ended (\(task.status.rawValue))")
    }
}
