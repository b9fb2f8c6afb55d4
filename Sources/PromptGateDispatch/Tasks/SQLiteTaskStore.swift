import Foundation
import GRDB
import PromptGateCore

/// Tasks in SQLite (GRDB), the embedded default: a task accepted is a row committed before the 202 goes out,
/// and a restart finds every task where it was (see `Dispatcher.recover`).
///
/// - One `task` row per task: the columns the store queries (status, priority, times, backend, prompt id,
///   caller) and the whole task as JSON (`body`, the `GenerationTask` encoding), written together in one
///   statement, so the two never disagree. Queue order is `created_at` within a status (plus the priority).
///   `image` rows say which task uses which file (a cached result shares files between tasks);
///   `idempotency_key` rows are written in the same transaction as the task they created; `result_cache`
///   rows are the `cache.backend: database` entries. Plain SQL types and statements, so a PostgreSQL store can
///   share them.
/// - WAL journal, `synchronous = NORMAL` by default: a commit is in the WAL (the OS has it) when `insert`
///   returns, so it survives the process being killed (`kill -9`, a crash, the OOM killer); only a power cut or
///   kernel crash may lose the last commits. `full` fsyncs every commit and survives those too, at a cost per
///   commit (`store.synchronous`).
/// - Reads go through GRDB's pool of reader connections and writes through its writer, both on GRDB's own
///   threads: nothing here blocks an event loop or the cooperative pool.
/// - Migrations are versioned (`DatabaseMigrator`) and run at open.
/// - The last few thousand tasks written are kept decoded (`RecentTasks`, updated under the writer), so the
///   reads a run and a polling client make skip the database: this store must be its file's only writer.
public final class SQLiteTaskStore: TaskStore, ResultCache {
    /// How hard a commit waits for the disk.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// Survives the process dying; a power cut may lose the last commits.
        case normal
        /// Every commit is on disk before it returns.
        case full
    }

    private let database: any DatabaseWriter
    private let encoder: JSONEncoder
    private let decoder = JSONDecoder()
    private let recent = RecentTasks()

    /// Opens (creating when missing) the database at `path`, or an in-memory one for `:memory:` (tests).
    /// - Throws: when the file cannot be opened or migrated.
    public init(path: String, synchronous: Synchronous = .normal) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue.uppercased())")
        }
        if path == ":memory:" {
            database = try DatabaseQueue(configuration: configuration)
        } else {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            database = try DatabasePool(path: path, configuration: configuration)
        }
        encoder = JSONEncoder()
        try Self.migrator.migrate(database)
    }

    /// The schema, one migration per version; a database from an older version is brought up to date at open.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: tasks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE task (
                        id TEXT PRIMARY KEY NOT NULL,
                        status TEXT NOT NULL,
                        priority TEXT NOT NULL,
                        caller TEXT,
                        created_at DOUBLE PRECISION NOT NULL,
                        finished_at DOUBLE PRECISION,
                        attempts INTEGER NOT NULL,
                        backend TEXT,
                        prompt_id TEXT,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX task_by_status ON task (status, created_at);
                    CREATE INDEX task_by_finish ON task (finished_at);
                    """)
        }
        migrator.registerMigration("v2: images, idempotency keys, result cache") { db in
            try db.execute(
                sql: """
                    CREATE TABLE image (
                        task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
                        file TEXT NOT NULL,
                        PRIMARY KEY (task_id, file)
                    );
                    CREATE INDEX image_by_file ON image (file);
                    CREATE INDEX task_by_caller ON task (caller, created_at);
                    CREATE INDEX task_by_created ON task (created_at);
                    CREATE TABLE idempotency_key (
                        scope TEXT NOT NULL,
                        key TEXT NOT NULL,
                        fingerprint TEXT NOT NULL,
                        task_id TEXT NOT NULL,
                        response TEXT,
                        created_at DOUBLE PRECISION NOT NULL,
                        PRIMARY KEY (scope, key)
                    );
                    CREATE INDEX idempotency_by_age ON idempotency_key (created_at);
                    CREATE TABLE result_cache (
                        key TEXT PRIMARY KEY NOT NULL,
                        body TEXT NOT NULL,
                        expires_at DOUBLE PRECISION NOT NULL
                    );
                    INSERT OR IGNORE INTO image (task_id, file)
                        SELECT task.id, json_extract(images.value, '$.file')
                        FROM task, json_each(task.body, '$.images') AS images;
                    """)
        }
        migrator.registerMigration("v3: webhook outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE webhook_delivery (
                        id TEXT PRIMARY KEY NOT NULL,
                        task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
                        status TEXT NOT NULL,
                        next_attempt_at DOUBLE PRECISION,
                        created_at DOUBLE PRECISION NOT NULL,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX webhook_due ON webhook_delivery (status, next_attempt_at);
                    CREATE INDEX webhook_by_task ON webhook_delivery (task_id, created_at);
                    """)
        }
        return migrator
    }

    /// Adds a task, its image rows and its idempotency key in one committed transaction.
    public func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(TaskStoreError) {
        do {
            try await database.write { db in
                let row = try self.encode(task)
                let exists = try db.cachedStatement(sql: "SELECT 1 FROM task WHERE id = ?")
                if try Bool.fetchOne(exists, arguments: [task.id]) == true { throw TaskStoreError.duplicate(task.id) }
                if let idempotency {
                    let taken = try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM idempotency_key WHERE scope = ? AND key = ?",
                        arguments: [idempotency.scope, idempotency.key])
                    if taken == true { throw TaskStoreError.duplicateKey(idempotency.key) }
                    try db.execute(
                        sql: """
                            INSERT INTO idempotency_key (scope, key, fingerprint, task_id, response, created_at)
                            VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            idempotency.scope, idempotency.key, idempotency.fingerprint, idempotency.taskID,
                            idempotency.response, idempotency.createdAt.timeIntervalSince1970,
                        ])
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO task (id, status, priority, caller, created_at, finished_at, attempts, backend,
                                          prompt_id, body)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: StatementArguments(row.values))
                if !task.images.isEmpty { try Self.writeImages(of: task, db) }
                if let message = WebhookDelivery.created(movingFrom: nil, to: task) {
                    try self.writeWebhook(message, insert: true, db)
                }
                self.recent.put(task)
            }
        } catch let error as TaskStoreError {
            recent.remove([task.id])
            throw error
        } catch {
            recent.remove([task.id])
            throw .unavailable(error)
        }
    }

    /// The task with `id`, if stored (nil also when the database cannot be read).
    public func task(id: String) async -> GenerationTask? {
        if let kept = recent.task(id: id) { return kept }
        let body = try? await database.read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT body FROM task WHERE id = ?"), arguments: [id])
        }
        return body.flatMap { $0 }.flatMap(decode)
    }

    /// Reads, checks and writes the task in one transaction, so concurrent moves are serialized.
    @discardableResult
    public func transition(id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void)
        async throws(TaskStoreError) -> GenerationTask
    {
        do {
            return try await database.write { db in
                // The cache holds what the last commit wrote (it is updated under this writer), so a task kept
                // there needs no read and no decoding; the UPDATE below still proves the row exists.
                let task: GenerationTask
                if let kept = self.recent.task(id: id) {
                    task = kept
                } else {
                    let select = try db.cachedStatement(sql: "SELECT body FROM task WHERE id = ?")
                    guard let body = try String.fetchOne(select, arguments: [id]), let stored = self.decode(body)
                    else { throw TaskStoreError.notFound(id) }
                    task = stored
                }
                let moved = try task.moved(to: status, update)
                let row = try self.encode(moved)
                try db.cachedStatement(
                    sql: """
                        UPDATE task SET status = ?, priority = ?, caller = ?, created_at = ?, finished_at = ?,
                                        attempts = ?, backend = ?, prompt_id = ?, body = ?
                        WHERE id = ?
                        """
                ).execute(arguments: StatementArguments(Array(row.values.dropFirst()) + [id]))
                guard db.changesCount == 1 else { throw TaskStoreError.notFound(id) }  // deleted meanwhile
                if moved.images != task.images { try Self.writeImages(of: moved, db) }
                if let message = WebhookDelivery.created(movingFrom: task.status, to: moved) {
                    try self.writeWebhook(message, insert: true, db)
                }
                self.recent.put(moved)
                return moved
            }
        } catch let error as TaskStoreError {
            recent.remove([id])  // a refused move wrote nothing; a failed commit may have left a newer copy here
            throw error
        } catch {
            recent.remove([id])
            throw .unavailable(error)
        }
    }

    /// The queued tasks' queue entries, oldest first: four columns a row, no task decoded (restart).
    public func queueEntries() async -> [TaskQueue.Entry] {
        // Rows are not Sendable: the entries are built inside the read, so GRDB's async overload applies (with
        // rows coming out, the compiler picked the blocking one and held a pool thread for the read).
        do {
            return try await database.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT id, priority, created_at, caller FROM task WHERE status = ? ORDER BY created_at, id",
                    arguments: [TaskStatus.queued.rawValue]
                ).compactMap { row in
                    guard let priority = Priority(rawValue: row["priority"]) else { return nil }
                    return TaskQueue.Entry(
                        id: row["id"], priority: priority, enqueuedAt: Date(timeIntervalSince1970: row["created_at"]),
                        tenant: row["caller"])
                }
            }
        } catch {
            return []
        }
    }

    /// Every task in `status`, oldest first.
    public func tasks(in status: TaskStatus) async -> [GenerationTask] {
        let bodies =
            (try? await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT body FROM task WHERE status = ? ORDER BY created_at, id",
                    arguments: [status.rawValue]
                )
            }) ?? []
        return bodies.compactMap(decode)
    }

    /// A page of tasks, newest first (the `task_by_created` / `task_by_caller` indexes).
    public func page(caller: String?, status: TaskStatus?, after cursor: TaskCursor?, limit: Int) async
        -> [GenerationTask]
    {
        var conditions: [String] = []
        var values: [(any DatabaseValueConvertible)?] = []
        if let caller {
            conditions.append("caller = ?")
            values.append(caller)
        }
        if let status {
            conditions.append("status = ?")
            values.append(status.rawValue)
        }
        if let cursor {
            conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
            let seconds = cursor.createdAt.timeIntervalSince1970
            values += [seconds, seconds, cursor.id]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        values.append(limit)
        let arguments = StatementArguments(values)
        let bodies =
            (try? await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT body FROM task \(filter) ORDER BY created_at DESC, id DESC LIMIT ?",
                    arguments: arguments)
            }) ?? []
        return bodies.compactMap(decode)
    }

    /// The tasks whose images include the file `name`.
    public func tasks(usingFile name: String) async -> [GenerationTask] {
        let bodies =
            (try? await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT task.body FROM image JOIN task ON task.id = image.task_id WHERE image.file = ?",
                    arguments: [name])
            }) ?? []
        return bodies.compactMap(decode)
    }

    /// Deletes the tasks that ended before `cutoff` (their image rows with them) and the expired idempotency
    /// keys and cache entries; returns the tasks and the files no remaining task uses (deleted next).
    public func removeEnded(before cutoff: Date) async -> RemovedTasks {
        let terminal = TaskStatus.allCases.filter(\.isTerminal).map(\.rawValue)
        let marks = terminal.map { _ in "?" }.joined(separator: ", ")
        let keysCutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds).timeIntervalSince1970
        let removed =
            (try? await database.write { db -> ([String], [String]) in
                let values: [(any DatabaseValueConvertible)?] = terminal + [cutoff.timeIntervalSince1970]
                let arguments = StatementArguments(values)
                let where_ = "status IN (\(marks)) AND COALESCE(finished_at, created_at) < ?"
                let found = try String.fetchAll(db, sql: "SELECT body FROM task WHERE \(where_)", arguments: arguments)
                let files = try String.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT file FROM image WHERE task_id IN (SELECT id FROM task WHERE \(where_))
                        """, arguments: arguments)
                for table in ["image", "webhook_delivery"] {
                    try db.execute(
                        sql: "DELETE FROM \(table) WHERE task_id IN (SELECT id FROM task WHERE \(where_))",
                        arguments: arguments)
                }
                try db.execute(sql: "DELETE FROM task WHERE \(where_)", arguments: arguments)
                try db.execute(sql: "DELETE FROM idempotency_key WHERE created_at < ?", arguments: [keysCutoff])
                var unused: [String] = []
                for file in files
                where try Bool.fetchOne(db, sql: "SELECT 1 FROM image WHERE file = ?", arguments: [file]) != true {
                    unused.append(file)
                }
                return (found, unused)
            }) ?? ([], [])
        let tasks = removed.0.compactMap(decode)
        recent.remove(tasks.map(\.id))
        return RemovedTasks(tasks: tasks, unusedFiles: removed.1)
    }

    /// The record for `key` in `scope`, while it lives.
    public func idempotencyRecord(scope: String, key: String) async -> IdempotencyRecord? {
        let cutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds).timeIntervalSince1970
        do {
            return try await database.read { db in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT fingerprint, task_id, response, created_at FROM idempotency_key
                        WHERE scope = ? AND key = ? AND created_at >= ?
                        """, arguments: [scope, key, cutoff]
                ).map { row in
                    IdempotencyRecord(
                        scope: scope, key: key, fingerprint: row["fingerprint"], taskID: row["task_id"],
                        response: row["response"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
                }
            }
        } catch {
            return nil
        }
    }

    /// Records the first answer for `key`.
    public func saveIdempotentResponse(scope: String, key: String, response: String) async {
        _ = try? await database.write { db in
            try db.execute(
                sql: "UPDATE idempotency_key SET response = ? WHERE scope = ? AND key = ?",
                arguments: [response, scope, key])
        }
    }

    // MARK: - Webhook outbox

    /// Claims due pending messages in one write: selected and pushed `lease` ahead together. A reader looks
    /// first, so an outbox with nothing due costs no write (the sender looks after every task end).
    public func claimWebhooks(dueBy now: Date, lease: Duration, limit: Int) async -> [WebhookDelivery] {
        let due = try? await database.read { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM webhook_delivery WHERE status = ? AND next_attempt_at <= ?"),
                arguments: [WebhookDelivery.Status.pending.rawValue, now.timeIntervalSince1970])
        }
        guard due == true else { return [] }
        let claimed =
            (try? await database.write { db -> [WebhookDelivery] in
                let bodies = try String.fetchAll(
                    db,
                    sql: """
                        SELECT body FROM webhook_delivery WHERE status = ? AND next_attempt_at <= ?
                        ORDER BY next_attempt_at, id LIMIT ?
                        """,
                    arguments: [WebhookDelivery.Status.pending.rawValue, now.timeIntervalSince1970, limit])
                var claimed: [WebhookDelivery] = []
                for body in bodies {
                    guard var message = try? self.decoder.decode(WebhookDelivery.self, from: Data(body.utf8)) else {
                        continue
                    }
                    message.nextAttemptAt = now.addingTimeInterval(lease.seconds)
                    try self.writeWebhook(message, insert: false, db)
                    claimed.append(message)
                }
                return claimed
            }) ?? []
        return claimed
    }

    /// Stores a message after an attempt.
    public func updateWebhook(_ delivery: WebhookDelivery) async {
        _ = try? await database.write { db in try self.writeWebhook(delivery, insert: false, db) }
    }

    /// A task's messages, oldest first.
    public func webhooks(of taskID: String) async -> [WebhookDelivery] {
        let bodies =
            (try? await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT body FROM webhook_delivery WHERE task_id = ? ORDER BY created_at, id",
                    arguments: [taskID])
            }) ?? []
        return bodies.compactMap { try? decoder.decode(WebhookDelivery.self, from: Data($0.utf8)) }
    }

    private func writeWebhook(_ message: WebhookDelivery, insert: Bool, _ db: Database) throws {
        let body = String(decoding: try encoder.encode(message), as: UTF8.self)
        let next = message.nextAttemptAt?.timeIntervalSince1970
        if insert {
            try db.execute(
                sql: """
                    INSERT INTO webhook_delivery (id, task_id, status, next_attempt_at, created_at, body)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    message.id, message.taskID, message.status.rawValue, next, message.createdAt.timeIntervalSince1970,
                    body,
                ])
        } else {
            try db.execute(
                sql: "UPDATE webhook_delivery SET status = ?, next_attempt_at = ?, body = ? WHERE id = ?",
                arguments: [message.status.rawValue, next, body, message.id])
        }
    }

    // MARK: - Result cache (`cache.backend: database`)

    /// The live entry for `key`.
    public func cachedResult(key: String, now: Date) async -> CachedResult? {
        let body = try? await database.read { db in
            try String.fetchOne(
                db, sql: "SELECT body FROM result_cache WHERE key = ? AND expires_at > ?",
                arguments: [key, now.timeIntervalSince1970])
        }
        return body.flatMap { $0 }.flatMap { try? decoder.decode(CachedResult.self, from: Data($0.utf8)) }
    }

    /// Records (or replaces) the entry for `key`.
    public func storeResult(_ result: CachedResult, key: String) async {
        guard let body = try? encoder.encode(result) else { return }
        _ = try? await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO result_cache (key, body, expires_at) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at
                    """,
                arguments: [key, String(decoding: body, as: UTF8.self), result.expiresAt.timeIntervalSince1970])
        }
    }

    /// Drops expired entries.
    public func removeExpiredResults(now: Date) async {
        _ = try? await database.write { db in
            try db.execute(
                sql: "DELETE FROM result_cache WHERE expires_at <= ?", arguments: [now.timeIntervalSince1970])
        }
    }

    /// Replaces a task's image rows with its current images.
    private static func writeImages(of task: GenerationTask, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM image WHERE task_id = ?", arguments: [task.id])
        for file in Set(task.images.map(\.file)) {
            try db.execute(sql: "INSERT INTO image (task_id, file) VALUES (?, ?)", arguments: [task.id, file])
        }
    }

    /// A task's column values, in the order of the `INSERT` (id first).
    private struct TaskRow {
        var values: [(any DatabaseValueConvertible)?]
    }

    private func encode(_ task: GenerationTask) throws(TaskStoreError) -> TaskRow {
        let body: String
        do {
            body = String(decoding: try encoder.encode(task), as: UTF8.self)
        } catch {
            throw .unavailable(error)
        }
        return TaskRow(values: [
            task.id, task.status.rawValue, task.priority.rawValue, task.caller, task.createdAt.timeIntervalSince1970,
            task.finishedAt?.timeIntervalSince1970, task.attempts, task.backend, task.promptID, body,
        ])
    }

    private func decode(_ body: String) -> GenerationTask? {
        try? decoder.decode(GenerationTask.self, from: Data(body.utf8))
    }
}
