import Foundation

/// What an `Idempotency-Key` on `POST /api/v1/generate` is bound to (draft-ietf-httpapi-idempotency-key-header):
/// the caller's scope and key, a fingerprint of the body, the task it created and the answer it got. Stored with
/// the task in one transaction, so a retry after a restart finds it; kept for `IdempotencyRecord.lifetime`.
public struct IdempotencyRecord: Sendable, Equatable {
    /// How long a key is remembered.
    public static let lifetime: Duration = .seconds(24 * 3600)

    /// Whose key it is: `key:<API key name>`, or `address:<client address>` without keys.
    public var scope: String
    /// The header's value.
    public var key: String
    /// SHA-256 of the request body, hex: the same key with another body is a misuse.
    public var fingerprint: String
    /// The task the first request created.
    public var taskID: String
    /// The answer sent to the first request (JSON), once it was sent.
    public var response: String?
    /// When the first request was accepted.
    public var createdAt: Date

    /// - Parameters: the record's fields.
    public init(
        scope: String, key: String, fingerprint: String, taskID: String, response: String? = nil,
        createdAt: Date = Date()
    ) {
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.taskID = taskID
        self.response = response
        self.createdAt = createdAt
    }
}

/// Tasks leaving the store by retention, and the image files no remaining task uses (to delete).
public struct RemovedTasks: Sendable {
    /// The tasks removed.
    public var tasks: [GenerationTask]
    /// Files only those tasks used.
    public var unusedFiles: [String]
}
