import HTTPTypes
import PromptGateCore
import PromptGateDispatch

/// The 202 of `POST /api/v1/generate`: the task id, where it stands and when it should be done, with
/// `Location` naming the task. A result-cache hit is already `completed` (`cached: true`, position 0).
struct AcceptedResponse: JSONResponse {
    var taskID: String
    var status: TaskStatus
    var cached: Bool
    var estimatedTime: Int
    var position: Int
    var priority: Priority
    var warnings: [Warning]?

    init(_ submission: Dispatcher.Submission, warnings: [Warning]) {
        taskID = submission.task.id
        status = submission.task.status
        cached = submission.task.cachedFrom != nil
        estimatedTime = submission.estimatedSeconds
        position = submission.position
        priority = submission.task.priority
        self.warnings = warnings.isEmpty ? nil : warnings
    }

    var responseStatus: HTTPResponse.Status { .accepted }
    var responseHeaders: HTTPFields { [.location: "/api/v1/task/\(taskID)"] }

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id", status, terminal, cached, estimatedTime = "estimated_time", position, priority,
            warnings
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(taskID, forKey: .taskID)
        try container.encode(status, forKey: .status)
        try container.encode(status.isTerminal, forKey: .terminal)
        if cached { try container.encode(true, forKey: .cached) }
        try container.encode(estimatedTime, forKey: .estimatedTime)
        try container.encode(position, forKey: .position)
        try container.encode(priority, forKey: .priority)
        try container.encodeIfPresent(warnings, forKey: .warnings)
    }
}
