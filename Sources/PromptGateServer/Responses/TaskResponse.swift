import Foundation
import NIOPosix
import PromptGateCore
import PromptGateDispatch

/// The body of `GET /api/v1/task/{id}` (and of `DELETE`): status, queue position, progress, timings, and
/// the result (images with URL, seed and file name, plus the generation metadata) or the error.
struct TaskResponse: JSONResponse {
    struct Image: Encodable {
        var index: Int
        var url: String
        var seed: UInt64?
        var filename: String
        var node: String
        /// The file's bytes, base64, when the request asked for `response_format: base64`.
        var b64: String?
    }

    /// Where inline (`base64`) images are read from and how much may be inlined.
    struct Inline: Sendable {
        var folder: OutputFolder
        /// `server.max_inline_bytes`: the most image bytes (before base64) one answer carries.
        var maxBytes: Int

        /// The bytes of a completed `response_format: base64` task's images, read on NIO's blocking-I/O pool
        /// (never on an event loop), or why they cannot be inlined; nil for any other task.
        func load(_ task: GenerationTask) async -> Loaded? {
            guard task.status == .completed, task.request.responseFormat == .base64 else { return nil }
            let folder = folder, maxBytes = maxBytes
            return try? await NIOThreadPool.singleton.runIfActive { () -> Loaded in
                var files: [Data] = []
                var total = 0
                for image in task.images {
                    guard let bytes = folder.contents(named: image.file) else {
                        return .refused(
                            TaskReason(
                                code: "response.image_gone",
                                message: "image \(image.file) is no longer in the output folder (task_retention?)"))
                    }
                    total += bytes.count
                    guard total <= maxBytes else {
                        return .refused(
                            TaskReason(
                                code: "response.inline_too_large",
                                message: "the images are larger than server.max_inline_bytes (\(maxBytes) bytes); "
                                    + "fetch them by url"))
                    }
                    files.append(bytes)
                }
                return .images(files)
            }
        }
    }

    /// A base64 task's images as read: every file's bytes in order, or why not.
    enum Loaded: Sendable {
        case images([Data])
        case refused(TaskReason)
    }

    /// The request as it ran (every field of the request schema), what the final graph loaded (every LoRA,
    /// whether the request or the workflow carried it, with its strengths; checkpoint, diffusion model, VAE
    /// and text encoder files), the preset's model and the backend.
    struct Metadata: Encodable {
        var request: PromptRequest
        var loras: [LoraUsed]
        var models: GraphModels?
        var model: String?
        var backend: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyCodingKey.self)
            try request.encodeFields(into: &container, loras: loras)
            if let models {
                try container.encode(models.checkpoints, forKey: AnyCodingKey("checkpoints"))
                try container.encode(models.unets, forKey: AnyCodingKey("unets"))
                try container.encode(models.vaes, forKey: AnyCodingKey("vaes"))
                try container.encode(models.textEncoders, forKey: AnyCodingKey("text_encoders"))
            }
            try container.encodeIfPresent(model, forKey: AnyCodingKey("model"))
            try container.encodeIfPresent(backend, forKey: AnyCodingKey("backend"))
        }
    }

    /// One LoRA the graph applied: the request's name for it (nil for the workflow's own), file, strengths.
    struct LoraUsed: Encodable {
        var name: String?
        var file: String
        /// The strength on the model (what the request calls `weight`).
        var weight: Double
        var strength_model: Double
        var strength_clip: Double?
        /// `request` or `workflow`.
        var source: String
        var node: String?
    }

    /// One attempt: backend, prompt id, start, end, outcome and why it did not complete.
    struct Attempt: Encodable {
        var number: Int
        var backend: String
        var prompt_id: String
        var started_at: String
        var ended_at: String?
        var outcome: String?
        var error: Failure?
        /// The gateway holding the attempt's lease (several gateways on one store only).
        var gateway: String?
    }

    struct Result: Encodable {
        var images: [Image]
        var metadata: Metadata
        /// Why `base64` images are not inline (too large for `server.max_inline_bytes`, or a file is gone).
        var inline_error: Failure?
    }

    struct Failure: Encodable {
        var code: String
        var message: String
        var details: JSONValue?

        init(_ reason: TaskReason) {
            code = reason.code
            message = reason.message
            details = reason.details
        }
    }

    var task_id: String
    var status: String
    /// Whether `status` is final (`completed`, `failed`, `cancelled`, `expired`): a polling client stops here.
    var terminal: Bool
    var priority: String
    var position: Int?
    var progress: Double?
    /// Why a queued task is not running (retry delay, no backend available or eligible).
    var waiting_for: Failure?
    /// The current (or last) attempt's number; 0 before the first.
    var attempt: Int
    /// Every attempt, oldest first.
    var attempts: [Attempt]
    var created_at: String
    var started_at: String?
    var finished_at: String?
    var result: Result?
    var error: Failure?
    /// True when the result came from the cache (the run of `cached_from` made the images).
    var cached: Bool?
    var cached_from: String?
    /// Where the task's end is announced.
    var webhook_url: String?
    /// The webhook messages about its end and every attempt to deliver them (GET /task only).
    var webhooks: [Webhook]?

    /// One webhook message: its `webhook-id`, event, where it stands and every try.
    struct Webhook: Encodable {
        struct Attempt: Encodable {
            var at: String
            var status: Int?
            var error: Failure?
            var seconds: Double
        }

        var id: String
        var event: String
        var url: String
        var status: String
        var next_attempt_at: String?
        var attempts: [Attempt]

        init(_ message: WebhookDelivery) {
            let time = TaskResponse.time
            id = message.id
            event = message.event
            url = message.url
            status = message.status.rawValue
            next_attempt_at = message.nextAttemptAt.map { time.format($0) }
            attempts = message.attempts.map {
                Attempt(
                    at: time.format($0.at), status: $0.status, error: $0.error.map(Failure.init),
                    seconds: ($0.seconds * 1000).rounded() / 1000)
            }
        }
    }

    /// RFC 3339 with milliseconds (`2026-12-03T08:21:18.123Z`); a value type, so one serves every request
    /// (building an `ISO8601DateFormatter` per response cost a good part of a GET /task).
    static let time = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// - Parameters:
    ///   - view: the task with its queue position and progress.
    ///   - imageBase: what image URLs start with.
    ///   - inline: the images of a `base64` task as `Inline.load` read them; nil: URLs only (task lists).
    init(_ view: Dispatcher.TaskView, imageBase: String, inline: Loaded? = nil) {
        let task = view.task
        let request = task.request
        let time = Self.time
        task_id = task.id
        status = task.status.rawValue
        terminal = task.status.isTerminal
        priority = task.priority.rawValue
        position = view.position
        progress = view.progress.map { ($0 * 100).rounded() / 100 }
        attempt = task.attempts
        attempts = task.attemptList.map { item in
            Attempt(
                number: item.number, backend: item.backend, prompt_id: item.promptID,
                started_at: time.format(item.startedAt), ended_at: item.endedAt.map { time.format($0) },
                outcome: item.outcome,
                error: item.reason.map(Failure.init), gateway: item.gateway)
        }
        waiting_for = view.waitingFor.map(Failure.init)
        created_at = time.format(task.createdAt)
        started_at = task.startedAt.map { time.format($0) }
        finished_at = task.finishedAt.map { time.format($0) }
        webhook_url = task.webhookURL
        if task.status == .completed {
            cached = task.cachedFrom != nil
            cached_from = task.cachedFrom
            result = Result(
                images: task.images.enumerated().map { position, image in
                    Image(
                        index: image.index ?? position, url: "\(imageBase)/output/\(image.file)", seed: image.seed,
                        filename: image.file, node: image.node)
                },
                metadata: Metadata(
                    request: request, loras: Self.loras(of: task), models: task.graphModels, model: task.model,
                    backend: task.backend))
            switch inline {
            case .images(let files)? where files.count == result?.images.count:
                for (index, bytes) in files.enumerated() { result?.images[index].b64 = bytes.base64EncodedString() }
            case .refused(let reason)?: result?.inline_error = Failure(reason)
            default: break
            }
        }
        // Only an ended task has an error; an earlier attempt's failure is in `attempts`.
        if let reason = task.reason, task.status.isTerminal, task.status != .completed {
            error = Failure(reason)
        }
    }

    /// The LoRAs the graph applied, named as the request named them where it did. Tasks stored before the
    /// graph was recorded show the request's LoRAs.
    static func loras(of task: GenerationTask) -> [LoraUsed] {
        let asked = zip(task.request.loras.map(\.name), task.loras)
        guard let models = task.graphModels else {
            return asked.map { name, lora in
                LoraUsed(
                    name: name, file: lora.file, weight: lora.weight, strength_model: lora.weight, strength_clip: nil,
                    source: "request", node: nil)
            }
        }
        // Only workflow graphs keep their own loaders when the request names none (a request's LoRAs replace them).
        let fromRequest = !task.loras.isEmpty
        return models.loras.map { lora in
            LoraUsed(
                name: fromRequest ? asked.first { $0.1.file == lora.file }?.0 : nil, file: lora.file,
                weight: lora.strengthModel, strength_model: lora.strengthModel, strength_clip: lora.strengthClip,
                source: fromRequest ? "request" : "workflow", node: lora.node)
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
