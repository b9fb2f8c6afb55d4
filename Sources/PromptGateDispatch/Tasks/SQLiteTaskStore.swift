import Foundation
import GRDB

/// Tasks in SQLite (GRDB), the embedded default: a task accepted is a row committed before the 202 goes out,
/// and a restart finds every task where it was (see `Dispatcher.recover`).
///
/// - One `task` row per task: the columns the store queries (status, priority, times, backend, prompt id,
///   caller) and the whole task as JSON (`body`, the `GenerationTask` encoding), written together in one
///   statement, so the two never disagree. Plain SQL types and statements, so a PostgreSQL store can share them.
/// - WAL journal, `synchronous = NORMAL` by default: a commit is in the WAL (the OS has it) when `insert`
///   returns, so it survives the process being killed (`kill -9`, a crash, the OOM killer); only a power cut or
///   kernel crash may lose the last commits. `full` fsyncs every commit and survives those too, at a cost per
///   commit (`store.synchronous`).
/// - Reads go through GRDB's pool of reader connections and writes through its writer, both on GRDB's own
///   threads: nothing here blocks an event loop or the cooperative pool.
/// - Migrations are versioned (`DatabaseMigrator`) and run at open.
public final class SQLiteTaskStore: TaskStore {
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
        encoder.outputFormatting = [.sortedKeys]
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
        return migrator
    }

    /// Adds a task in one committed transaction.
    public func insert(_ task: GenerationTask) async throws(TaskStoreError) {
        do {
            try await database.write { db in
                let row = try self.encode(task)
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM task WHERE id = ?", arguments: [task.id]) == true {
                    throw TaskStoreError.duplicate(task.id)
                }
                try db.execute(
                    sql: """
                        INSERT INTO task (id, status, priority, caller, created_at, finished_at, attempts, backend,
                                          prompt_id, body)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: StatementArguments(row.values))
            }
        } catch let error as TaskStoreError {
            throw error
        } catch {
            throw .unavailable(error)
        }
    }

    /// The task with `id`, if stored (nil also when the database cannot be read).
    public func task(id: String) async -> GenerationTask? {
        let body = try? await database.read { db in
            try String.fetchOne(db, sql: "SELECT body FROM task WHERE id = ?", arguments: [id])
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
                guard let body = try String.fetchOne(db, sql: "SELECT body FROM task WHERE id = ?", arguments: [id]),
                    let task = self.decode(body)
                else { throw TaskStoreError.notFound(id) }
                let moved = try task.moved(to: status, update)
                let row = try self.encode(moved)
                try db.execute(
                    sql: """
                        UPDATE task SET status = ?, priority = ?, caller = ?, created_at = ?, finished_at = ?,
                                        attempts = ?, backend = ?, prompt_id = ?, body = ?
                        WHERE id = ?
                        """, arguments: StatementArguments(Array(row.values.dropFirst()) + [id]))
                return moved
            }
        } catch let error as TaskStoreError {
            throw error
        } catch {
            throw .unavailable(error)
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

    /// Deletes the tasks that ended before `cutoff` and returns them (their files go next).
    public func removeEnded(before cutoff: Date) async -> [GenerationTask] {
        let terminal = TaskStatus.allCases.filter(\.isTerminal).map(\.rawValue)
        let marks = terminal.map { _ in "?" }.joined(separator: ", ")
        let bodies =
            (try? await database.write { db -> [String] in
                let values: [(any DatabaseValueConvertible)?] = terminal + [cutoff.timeIntervalSince1970]
                let arguments = StatementArguments(values)
                let where_ = "status IN (\(marks)) AND COALESCE(finished_at, created_at) < ?"
                let found = try String.fetchAll(db, sql: "SELECT body FROM task WHERE \(where_)", arguments: arguments)
                try db.execute(sql: "DELETE FROM task WHERE \(where_)", arguments: arguments)
                return found
            }) ?? []
        return bodies.compactMap(decode)
    }

    /// A task's column values, in the order of the `INSERT` (id first).
    private struct Row {
        var values: [(any DatabaseValueConvertible)?]
    }

    private func encode(_ task: GenerationTask) throws(TaskStoreError) -> Row {
        let body: String
        do {
            body = String(decoding: try encoder.encode(task), as: UTF8.self)
        } catch {
            throw .unavailable(error)
        }
        return Row(values: [
            task.id, task.status.rawValue, task.priority.rawValue, task.caller, task.createdAt.timeIntervalSince1970,
            task.finishedAt?.timeIntervalSince1970, task.attempts, task.backend, task.promptID, body,
        ])
    }

    private func decode(_ body: String) -> GenerationTask? {
        try? decoder.decode(GenerationTask.self, from: Data(body.utf8))
    }
}
