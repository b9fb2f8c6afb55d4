import Foundation
import PromptGateCore

/// Where a task is. Every task ends in exactly one terminal state (completed, failed, cancelled, expired).
public enum TaskStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed, cancelled, expired

    public var isTerminal: Bool { self != .queued && self != .running }

    /// The transitions a task may make; anything else is a bug the store refuses.
    func canMove(to next: TaskStatus) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled), (.queued, .expired): true
        case (.running, .completed), (.running, .failed), (.running, .cancelled), (.running, .queued): true  // queued again: retry
        default: false
        }
    }
}

/// One generation: the optimized request, its place in the queue and what became of it.
public struct GenerationTask: Sendable, Equatable {
    /// Lowercase UUID; also the ComfyUI `prompt_id`.
    public let id: String
    public var request: PromptRequest
    public var priority: Priority
    public var status: TaskStatus = .queued
    public let createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Dispatch attempts so far (retries included).
    public var attempts = 0
    public var backend: String?
    /// Why the task ended (failure, cancel, expiry), with a stable code.
    public var reason: (code: String, message: String)?

    public init(id: String = UUID().uuidString.lowercased(), request: PromptRequest, priority: Priority = .normal, createdAt: Date = Date()) {
        self.id = id
        self.request = request
        self.priority = priority
        self.createdAt = createdAt
    }

    public static func == (lhs: GenerationTask, rhs: GenerationTask) -> Bool {
        lhs.id == rhs.id && lhs.status == rhs.status && lhs.attempts == rhs.attempts && lhs.backend == rhs.backend
            && lhs.reason?.code == rhs.reason?.code && lhs.request == rhs.request
    }
}
