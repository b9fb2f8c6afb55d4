import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PromptGateCore
import PromptGateDispatch
import Synchronization

/// The `Idempotency-Key` header of `POST /api/v1/generate` (draft-ietf-httpapi-idempotency-key-header): the
/// key, whose it is (the API key name, or the client address without keys), and the body's fingerprint.
struct IdempotencyKey: Sendable, Hashable {
    static let header = HTTPField.Name("Idempotency-Key")!
    /// Marks a replayed answer.
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// `key:<name>` or `address:<address>`.
    var scope: String
    /// The header's value (a structured-field string's quotes removed).
    var key: String

    /// A key in a scope.
    init(scope: String, key: String) {
        self.scope = scope
        self.key = key
    }

    /// The key the request carries; nil without the header.
    /// - Throws: 400 `idempotency.invalid_key` for an empty, over-long or non-printable key.
    init?(_ request: Request, caller: Caller) throws(IdempotencyError) {
        guard var value = request.headers[Self.header]?.trimmingCharacters(in: .whitespaces) else { return nil }
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        guard (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .invalidKey
        }
        key = value
        scope = caller.keyName.map { "key:\($0)" } ?? "address:\(caller.address ?? "unknown")"
    }

    /// The record to store with the task.
    func record(body: ByteBuffer, taskID: String) -> IdempotencyRecord {
        IdempotencyRecord(scope: scope, key: key, fingerprint: Self.fingerprint(body), taskID: taskID)
    }

    /// SHA-256 of the body, hex.
    static func fingerprint(_ body: ByteBuffer) -> String {
        SHA256.hash(data: Array(body.readableBytesView)).hex
    }
}

/// Keys whose first request is being accepted right now in this process (a second one gets 409).
final class IdempotencyInFlight: Sendable {
    private let keys = Mutex<Set<IdempotencyKey>>([])

    /// Claims `key`; false when a request holding it is in progress.
    func claim(_ key: IdempotencyKey) -> Bool { keys.withLock { $0.insert(key).inserted } }

    /// Lets `key` go.
    func release(_ key: IdempotencyKey) { _ = keys.withLock { $0.remove(key) } }
}

/// A misused idempotency key.
enum IdempotencyError: PromptGateError, Equatable {
    /// The header is not a usable key.
    case invalidKey
    /// The key came with another body before.
    case reused(taskID: String)
    /// The first request with the key is still being accepted.
    case inProgress

    var code: String {
        switch self {
        case .invalidKey: "idempotency.invalid_key"
        case .reused: "idempotency.key_reused"
        case .inProgress: "idempotency.in_progress"
        }
    }

    var kind: ErrorKind {
        switch self {
        case .invalidKey: .malformedInput
        case .reused: .invalidInput
        case .inProgress: .conflict
        }
    }

    var message: String {
        switch self {
        case .invalidKey: "the Idempotency-Key header must hold 1 to 255 printable ASCII characters"
        case .reused(let taskID):
            "this Idempotency-Key was used with a different request body (task \(taskID)); use a new key"
        case .inProgress: "a request with this Idempotency-Key is still being accepted; retry in a moment"
        }
    }

    var retryAfter: Int? { self == .inProgress ? 1 : nil }

    var details: JSONValue? {
        if case .reused(let taskID) = self { return ["task_id": .string(taskID)] }
        return nil
    }
}
