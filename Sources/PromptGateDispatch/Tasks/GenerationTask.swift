import Foundation
import PromptGateCore

/// Where a task is. Every task ends in exactly one terminal state (completed, failed, cancelled, expired).
public enum TaskStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed, cancelled, expired

    /// Whether the task has ended (completed, failed, cancelled or expired).
    public var isTerminal: Bool { self != .queued && self != .running }

    /// The transitions a task may make; anything else is a bug the store refuses.
    func canMove(to next: TaskStatus) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled), (.queued, .expired): true
        // queued again: a retry
        case (.running, .completed), (.running, .failed), (.running, .cancelled), (.running, .queued): true
        default: false
        }
    }
}

/// Why a task ended other than by completing (or why its last attempt failed), with a stable code.
public struct TaskReason: Sendable, Equatable, Codable {
    /// Stable code (`comfyui.node_errors`, `task.expired`, ...).
    public var code: String
    /// A sentence for the caller.
    public var message: String
    /// ComfyUI's own detail: `node_errors`, or the `execution_error` data (node, exception).
    public var details: JSONValue?

    /// A reason with a stable `code`.
    public init(code: String, message: String, details: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }
}

/// One image a completed task produced, as served from the output folder.
public struct TaskImage: Sendable, Equatable, Codable {
    /// The file name under the output folder (`GET /output/{file}`).
    public var file: String
    /// The workflow node that produced it, and ComfyUI's own name for it.
    public var node: String
    /// ComfyUI's file name for it.
    public var sourceFilename: String
    /// ComfyUI's subfolder for it (nil in tasks stored before it was kept: `promptgate`, the prefix every
    /// patched graph saves under).
    public var sourceSubfolder: String?
    /// The seed it was made with, when the workflow's seed input was bound (a batch shares it: ComfyUI draws
    /// each image's noise from the seed and the image's place in the batch).
    public var seed: UInt64?
    /// Its place among the task's images, from 0 (in a batch, its batch index); nil in tasks stored before.
    public var index: Int?
}

/// One attempt of a task on a backend, as the task's attempt list records it.
public struct TaskAttempt: Sendable, Equatable, Codable {
    /// 1 for the first attempt.
    public var number: Int
    /// The backend it ran on.
    public var backend: String
    /// Its ComfyUI `prompt_id`.
    public var promptID: String
    /// When it was sent (or taken back after a restart).
    public var startedAt: Date
    /// When it ended; nil while it runs.
    public var endedAt: Date?
    /// How it ended: the task's outcome (`completed`, `failed`, `cancelled`) or `retried`; nil while it runs.
    public var outcome: String?
    /// Why it did not complete.
    public var reason: TaskReason?
    /// The gateway that holds (or held) the attempt's lease when several gateways share a PostgreSQL store: the
    /// one that sent it, or the one that took it over from a gateway that died; nil with one gateway.
    public var gateway: String?

    /// An attempt that has just started.
    public init(number: Int, backend: String, promptID: String, startedAt: Date) {
        self.number = number
        self.backend = backend
        self.promptID = promptID
        self.startedAt = startedAt
    }
}

/// One generation: the optimized request, its place in the queue and what became of it.
public struct GenerationTask: Sendable, Equatable, Codable {
    /// Lowercase UUID; also the ComfyUI `prompt_id` of the first attempt.
    public let id: String
    /// The optimized request.
    public var request: PromptRequest
    /// Its queue priority.
    public var priority: Priority
    /// The LoRA files the request's LoRA names resolved to, with their weights.
    public var loras: [WorkflowPatcher.LoraFile] = []
    /// The preset's model name (metadata).
    public var model: String?
    /// The API key name that submitted it (only that caller may read or cancel it when keys are on).
    public var caller: String?
    /// Where it is now.
    public var status: TaskStatus = .queued
    /// When it was accepted.
    public let createdAt: Date
    /// When its current (or last) attempt started.
    public var startedAt: Date?
    /// When it ended.
    public var finishedAt: Date?
    /// Dispatch attempts so far (retries included).
    public var attempts = 0
    /// The backend of the current (or last) attempt.
    public var backend: String?
    /// The ComfyUI `prompt_id` of the current attempt; stored before it is sent.
    public var promptID: String?
    /// The images it produced, once completed.
    public var images: [TaskImage] = []
    /// Why the task ended (failure, cancel, expiry), or why the last attempt failed while it waits for a retry.
    public var reason: TaskReason?
    /// The result-cache key of its graph (`Workflow.cacheKey`), when the cache is on.
    public var cacheKey: String?
    /// When its result came from the cache: the task whose run made the images.
    public var cachedFrom: String?
    /// What the final graph runs: model files and every LoRA with its strengths (set at submit).
    public var graphModels: GraphModels?
    /// Where its end is announced (the request's `webhook_url`, else its API key's default); nil: nowhere.
    public var webhookURL: String?
    /// While it is queued again after a failed attempt: when it may start (`queue.retry_delay` later), so
    /// another gateway sharing the store waits the delay out too.
    public var retryAt: Date?
    /// Every attempt so far, oldest first (stored optional: tasks from before the list existed have none).
    private var attemptLog: [TaskAttempt]?

    /// Every attempt so far, oldest first; the last is the current one while the task runs.
    public var attemptList: [TaskAttempt] {
        get { attemptLog ?? [] }
        set { attemptLog = newValue }
    }

    /// Opens the next attempt on `backend` (the task is about to be stored `running`): a fresh `prompt_id` per
    /// attempt after the first (ComfyUI overwrites history entries of a reused id), the previous attempt's
    /// failure moved out of the current state into its attempt record.
    mutating func beginAttempt(on backend: String, at now: Date = Date()) {
        attempts += 1
        self.backend = backend
        startedAt = startedAt ?? now
        let promptID = attempts == 1 ? id : UUID().uuidString.lowercased()
        self.promptID = promptID
        reason = nil
        retryAt = nil
        attemptList.append(TaskAttempt(number: attempts, backend: backend, promptID: promptID, startedAt: now))
    }

    /// Closes the current attempt (if one is open) with how it ended.
    mutating func endAttempt(_ outcome: String, reason: TaskReason?, at time: Date = Date()) {
        guard var last = attemptLog?.last, last.endedAt == nil else { return }
        last.endedAt = time
        last.outcome = outcome
        last.reason = reason
        attemptLog![attemptLog!.count - 1] = last
    }

    /// A queued task for `request`.
    public init(
        id: String = UUID().uuidString.lowercased(), request: PromptRequest, priority: Priority = .normal,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.request = request
        self.priority = priority
        self.createdAt = createdAt
    }
}

extension GenerationTask {
    /// The task for a request the pipeline let through: its priority, its LoRA names resolved to files by
    /// the preset that optimized it (a name the preset does not list is passed on as a file name), the
    /// preset's model, and the caller's key name as the owner (never the key itself).
    /// - Parameters:
    ///   - context: the screened request (not blocked).
    ///   - preset: the preset its pipeline ran with.
    public init(screened context: PromptContext, preset: Preset?) {
        let request = context.request
        self.init(request: request, priority: request.priority ?? .normal)
        loras = request.loras.map { lora in
            WorkflowPatcher.LoraFile(file: preset?.loras.available[lora.name] ?? lora.name, weight: lora.weight)
        }
        model = preset?.model.name
        caller = context.caller.keyName
    }
}
