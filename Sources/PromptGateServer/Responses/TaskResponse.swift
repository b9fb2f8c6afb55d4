import Foundation
import PromptGateCore
import PromptGateDispatch

/// The body of `GET /api/v1/task/{id}` (and of `DELETE`): status, queue position, progress, timings, and
/// the result (images with URL, seed and file name, plus the generation metadata) or the error.
struct TaskResponse: JSONResponse {
    struct Image: Encodable {
        var url: String
        var seed: UInt32?
        var filename: String
        var node: String
    }

    /// The request as it ran (every field of the request schema, `loras` with their files), the preset's
    /// model and the backend.
    struct Metadata: Encodable {
        var request: PromptRequest
        var loras: [LoraUsed]
        var model: String?
        var backend: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyCodingKey.self)
            try request.encodeFields(into: &container, loras: loras)
            try container.encodeIfPresent(model, forKey: AnyCodingKey("model"))
            try container.encodeIfPresent(backend, forKey: AnyCodingKey("backend"))
        }
    }

    struct LoraUsed: Encodable {
        var name: String
        var file: String
        var weight: Double
    }

    struct Result: Encodable {
        var images: [Image]
        var metadata: Metadata
    }

    struct Failure: Encodable {
        var code: String
        var message: String
        var details: JSONValue?
    }

    var task_id: String
    var status: String
    var priority: String
    var position: Int?
    var progress: Double?
    var attempts: Int
    var created_at: String
    var started_at: String?
    var finished_at: String?
    var result: Result?
    var error: Failure?
    /// True when the result came from the cache (the run of `cached_from` made the images).
    var cached: Bool?
    var cached_from: String?

    init(_ view: Dispatcher.TaskView, imageBase: String) {
        let task = view.task
        let request = task.request
        let time = ISO8601DateFormatter()
        time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        task_id = task.id
        status = task.status.rawValue
        priority = task.priority.rawValue
        position = view.position
        progress = view.progress.map { ($0 * 100).rounded() / 100 }
        attempts = task.attempts
        created_at = time.string(from: task.createdAt)
        started_at = task.startedAt.map { time.string(from: $0) }
        finished_at = task.finishedAt.map { time.string(from: $0) }
        if task.status == .completed {
            cached = task.cachedFrom != nil
            cached_from = task.cachedFrom
            let loras = zip(request.loras, task.loras).map { LoraUsed(name: $0.name, file: $1.file, weight: $1.weight) }
            result = Result(
                images: task.images.map {
                    Image(url: "\(imageBase)/output/\($0.file)", seed: $0.seed, filename: $0.file, node: $0.node)
                },
                metadata: Metadata(request: request, loras: loras, model: task.model, backend: task.backend))
        }
        // A queued task carries the reason of its last failed attempt while it waits for a retry.
        if let reason = task.reason, task.status != .completed {
            error = Failure(code: reason.code, message: reason.message, details: reason.details)
        }
    }
}

/// The body of `GET /api/v1/tasks`: a page of tasks, newest first, and the cursor of the next page (nil on
/// the last).
struct TaskListResponse: JSONResponse {
    var tasks: [TaskResponse]
    var next_cursor: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(tasks, forKey: AnyCodingKey("tasks"))
        try container.encode(next_cursor, forKey: AnyCodingKey("next_cursor"))
    }
}
