import Foundation
import Logging
import NIOSSL
import PostgresNIO
import PromptGateCore
import Synchronization

/// Tasks in PostgreSQL (postgres-nio), for gateways that share one database (`store.url: postgres://…`).
/// The same tables and rules as `SQLiteTaskStore` — a task row with the columns the store queries and the
/// whole task as JSON, image rows, idempotency keys, result-cache entries, the webhook outbox — with what a
/// server shared by several writers needs: every read goes to the database (no cache of recent writes),
/// a move reads its row `FOR UPDATE` in the transaction that writes it, and webhook claims take rows
/// `FOR UPDATE SKIP LOCKED`. The schema is versioned (`promptgate_schema`) and migrated at the first use under a
/// session advisory lock, so gateways starting together do not race. What only several gateways need (claims
/// counted across gateways, leases, heartbeats, queue notices, the shared rate limit) is in
/// `PostgresTaskStore+Gateways.swift`.
public final class PostgresTaskStore: TaskStore, ResultCache {
    /// Where the database is, from a `postgres://user:password@host:port/database` URL; a `host` query
    /// parameter that is a folder (`?host=/var/run/postgresql`) means its Unix socket; `sslmode` is `disable`
    /// (the default for a socket), `prefer` or `require`.
    public struct Location: Sendable, Equatable {
        /// The client's configuration.
        var configuration: PostgresClient.Configuration {
            var configuration: PostgresClient.Configuration
            if let socket {
                configuration = .init(unixSocketPath: socket, username: user, password: password, database: database)
            } else {
                let tls: PostgresClient.Configuration.TLS
                switch sslMode {
                case "require": tls = .require(.makeClientConfiguration())
                case "prefer": tls = .prefer(.makeClientConfiguration())
                default: tls = .disable
                }
                configuration = .init(
                    host: host, port: port, username: user, password: password, database: database, tls: tls)
            }
            configuration.options.maximumConnections = 16
            return configuration
        }

        var user: String
        var password: String?
        var host: String
        var port: Int
        var database: String
        /// The Unix socket's path, when the host is a folder.
        var socket: String?
        var sslMode: String

        /// Where it is, without the password (for messages and `/status`).
        public var describe: String {
            "\(user)@\(socket ?? "\(host):\(port)")/\(database)"
        }

        /// Parses a `postgres://` URL.
        /// - Throws: `TaskStoreError` `store.bad_url` saying what is wrong.
        public init(url text: String) throws(TaskStoreError) {
            func bad(_ detail: String) -> TaskStoreError {
                TaskStoreError(code: "store.bad_url", message: "store.url \(detail)")
            }
            guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
                throw bad("must be postgres://user:password@host:port/database, found '\(text)'")
            }
            var query: [String: String] = [:]
            for item in url.queryItems ?? [] { query[item.name] = item.value ?? "" }
            for name in query.keys where !["host", "sslmode"].contains(name) {
                throw bad("has '\(name)': only host (a socket folder) and sslmode are understood")
            }
            user = url.user ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
            password = url.password
            port = url.port ?? 5432
            database = String(url.path.drop { $0 == "/" })
            if database.isEmpty { database = user }
            host = url.host ?? ""
            if let folder = query["host"], folder.hasPrefix("/") {
                socket = (folder as NSString).appendingPathComponent(".s.PGSQL.\(port)")
            } else if host.isEmpty {
                throw bad("names no host (give one, or ?host=/path/to/socket/folder)")
            }
            sslMode = query["sslmode"] ?? "disable"
            guard ["disable", "prefer", "require"].contains(sslMode) else {
                throw bad("sslmode must be disable, prefer or require, found '\(sslMode)'")
            }
        }
    }

    let client: PostgresClient
    private let running: Task<Void, Never>
    let ready: Task<Void, any Error>
    /// Queue notices waiting to be sent after the commits that made them.
    let notices = NoticeOutbox()
    private let notifier: Task<Void, Never>
    let logger: Logger
    let encoder = JSONEncoder()
    let decoder = JSONDecoder()
    /// This gateway's name on its leases, and their timeout.
    public let gateway: GatewayIdentity
    /// Tells this process from an earlier one of the same name.
    let instance = UUID().uuidString.lowercased()
    /// When this process started using the store.
    let startedAt = Date()
    /// The database's time of this process's last heartbeat (to notice another process under the same name).
    let lastHeartbeat = Mutex<Double?>(nil)

    /// Connects (lazily: the first call waits for the connection and the migrations; `prepare` waits for them
    /// up front).
    /// - Parameters:
    ///   - location: the database.
    ///   - connectTimeout: how long the first connection and the migrations may take; a database that has not
    ///     answered by then makes every call fail (`store.unavailable`), so `serve` stops instead of waiting.
    ///   - gateway: this gateway's name and lease timeout (`store.gateway_name`, `store.lease_timeout`).
    ///   - logger: where the store logs.
    public init(
        location: Location, connectTimeout: Duration = .seconds(10),
        gateway: GatewayIdentity = GatewayIdentity(name: "gateway-\(getpid())", leaseTimeout: .seconds(30)),
        logger: Logger = Logger(label: "promptgate.store")
    ) {
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.gateway = gateway
        running = Task { await client.run() }
        let ready = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await Self.migrate(client, logger: logger) }
                group.addTask {
                    try await Task.sleep(for: connectTimeout)
                    throw TaskStoreError(
                        code: "store.unavailable",
                        message: "the database did not answer within \(connectTimeout) (\(location.describe))")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        self.ready = ready
        let notices = notices
        notifier = Task { await notices.send(through: client, after: ready, logger: logger) }
    }

    deinit {
        notifier.cancel()
        running.cancel()
    }

    /// Waits until the database answers and the schema is current, then records this gateway (its first
    /// heartbeat), so `/status` on every gateway lists it before it takes work.
    /// - Throws: `store.unavailable` with the database's words.
    public func prepare() async throws(TaskStoreError) {
        _ = try await heartbeat(renewing: [])  // its transaction waits for the connection and the schema first
    }

    // MARK: - Schema

    /// The schema, one list of statements per version, applied in order by the first gateway that finds it
    /// missing. Plain SQL types, the same columns as the SQLite store's.
    static let migrations: [[PostgresQuery]] = [
        [
            """
            CREATE TABLE task (
                id TEXT PRIMARY KEY, status TEXT NOT NULL, priority TEXT NOT NULL, caller TEXT,
                created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION, attempts INTEGER NOT NULL,
                backend TEXT, prompt_id TEXT, body TEXT NOT NULL)
            """,
            "CREATE INDEX task_by_status ON task (status, created_at)",
            "CREATE INDEX task_by_finish ON task (finished_at)",
            "CREATE INDEX task_by_caller ON task (caller, created_at)",
            "CREATE INDEX task_by_created ON task (created_at)",
            """
            CREATE TABLE image (
                task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE, file TEXT NOT NULL,
                PRIMARY KEY (task_id, file))
            """,
            "CREATE INDEX image_by_file ON image (file)",
            """
            CREATE TABLE idempotency_key (
                scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, task_id TEXT NOT NULL,
                response TEXT, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))
            """,
            "CREATE INDEX idempotency_by_age ON idempotency_key (created_at)",
            "CREATE TABLE result_cache (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
            """
            CREATE TABLE webhook_delivery (
                id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
                status TEXT NOT NULL, next_attempt_at DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL)
            """,
            "CREATE INDEX webhook_due ON webhook_delivery (status, next_attempt_at)",
            "CREATE INDEX webhook_by_task ON webhook_delivery (task_id, created_at)",
        ],
        [
            // Several gateways: who holds a run and until when (a running task's lease), when a task queued again
            // after a failure may start, the gateways' heartbeats, and the shared rate-limit state (GCRA's
            // theoretical arrival time per bucket, in microseconds). Times are the database's clock, not a
            // gateway's.
            """
            ALTER TABLE task ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until DOUBLE PRECISION,
                ADD COLUMN ready_at DOUBLE PRECISION
            """,
            "CREATE INDEX task_running_by_backend ON task (backend) WHERE status = 'running'",
            "CREATE INDEX task_running_by_lease ON task (lease_owner, lease_until) WHERE status = 'running'",
            """
            CREATE TABLE gateway (
                name TEXT PRIMARY KEY, instance TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,
                heartbeat_at DOUBLE PRECISION NOT NULL)
            """,
            // Unlogged: no WAL, no flush per request; a database crash empties it (budgets start full again).
            """
            CREATE UNLOGGED TABLE rate_limit (
                bucket TEXT PRIMARY KEY, arrival BIGINT NOT NULL, granted BIGINT NOT NULL)
            """,
        ],
    ]

    /// Applies the missing migrations under a session advisory lock (one gateway at a time; the others find
    /// the schema current when they get the lock).
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
            do {
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS promptgate_schema (
                        version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                var current = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(MAX(version), 0) FROM promptgate_schema", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                for (index, statements) in migrations.enumerated() where index + 1 > current {
                    try await connection.withTransaction(logger: logger) { connection in
                        for statement in statements { try await connection.query(statement, logger: logger) }
                        try await connection.query(
                            "INSERT INTO promptgate_schema (version) VALUES (\(index + 1))", logger: logger)
                    }
                    logger.notice("store migrated", metadata: ["version": "\(index + 1)"])
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        }
    }

    /// The advisory lock key migrations hold ("pgate" in ASCII).
    static let migrationLock = 0x7067_6174_65

    // MARK: - Tasks

    /// Adds a task, its image rows, its idempotency key and (a task stored ended) its webhook message in one
    /// transaction.
    public func insert(_ task: GenerationTask, idempotency: IdempotencyRecord?) async throws(TaskStoreError) {
        try await transaction { connection in
            if let key = idempotency {
                let taken = try await connection.query(
                    """
                    INSERT INTO idempotency_key (scope, key, fingerprint, task_id, response, created_at)
                    VALUES (\(key.scope), \(key.key), \(key.fingerprint), \(key.taskID), \(key.response),
                            \(key.createdAt.timeIntervalSince1970))
                    ON CONFLICT DO NOTHING RETURNING key
                    """, logger: self.logger)
                if try await !taken.hasRows { throw TaskStoreError.duplicateKey(key.key) }
            }
            let body = try self.encode(task)
            let inserted = try await connection.query(
                """
                INSERT INTO task (id, status, priority, caller, created_at, finished_at, attempts, backend, prompt_id,
                                  ready_at, body)
                VALUES (\(task.id), \(task.status.rawValue), \(task.priority.rawValue), \(task.caller),
                        \(task.createdAt.timeIntervalSince1970), \(task.finishedAt?.timeIntervalSince1970),
                        \(task.attempts), \(task.backend), \(task.promptID), \(task.retryAt?.timeIntervalSince1970),
                        \(body))
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: self.logger)
            if try await !inserted.hasRows { throw TaskStoreError.duplicate(task.id) }
            try await self.writeImages(of: task, connection)
            if let message = WebhookDelivery.created(movingFrom: nil, to: task) {
                try await self.insertWebhook(message, connection)
            }
        }
        announce(from: nil, to: task)
    }

    /// The task with `id` (nil also when the database cannot be read).
    public func task(id: String) async -> GenerationTask? { (try? await find(id: id)) ?? nil }

    /// The task with `id`, or nil when there is none.
    /// - Throws: `store.unavailable` when the database cannot be read.
    public func find(id: String) async throws(TaskStoreError) -> GenerationTask? {
        try await reading { client, logger in
            for try await body in try await client.query("SELECT body FROM task WHERE id = \(id)", logger: logger)
                .decode(String.self)
            {
                return self.decode(body)
            }
            return nil
        }
    }

    /// Reads the row `FOR UPDATE`, checks and writes the move in one transaction.
    @discardableResult
    public func transition(id: String, to status: TaskStatus, _ update: @Sendable (inout GenerationTask) -> Void)
        async throws(TaskStoreError) -> GenerationTask
    {
        let (before, moved) = try await transaction { connection -> (TaskStatus, GenerationTask) in
            var stored: GenerationTask?
            for try await body in try await connection.query(
                "SELECT body FROM task WHERE id = \(id) FOR UPDATE", logger: self.logger
            ).decode(String.self) {
                stored = self.decode(body)
            }
            guard let task = stored else { throw TaskStoreError.notFound(id) }
            let moved = try task.moved(to: status, update)
            let body = try self.encode(moved)
            try await connection.query(
                """
                UPDATE task SET status = \(moved.status.rawValue), priority = \(moved.priority.rawValue),
                    caller = \(moved.caller), finished_at = \(moved.finishedAt?.timeIntervalSince1970),
                    attempts = \(moved.attempts), backend = \(moved.backend), prompt_id = \(moved.promptID),
                    ready_at = \(moved.retryAt?.timeIntervalSince1970), body = \(body),
                    lease_owner = CASE WHEN \(moved.status.rawValue)::TEXT = 'running' THEN lease_owner END,
                    lease_until = CASE WHEN \(moved.status.rawValue)::TEXT = 'running' THEN lease_until END
                WHERE id = \(id)
                """, logger: self.logger)
            if moved.images != task.images { try await self.writeImages(of: moved, connection) }
            if let message = WebhookDelivery.created(movingFrom: task.status, to: moved) {
                try await self.insertWebhook(message, connection)
            }
            return (task.status, moved)
        }
        announce(from: before, to: moved)
        return moved
    }

    /// Every task in `status`, oldest first.
    public func tasks(in status: TaskStatus) async -> [GenerationTask] {
        await bodies("SELECT body FROM task WHERE status = \(status.rawValue) ORDER BY created_at, id").compactMap(
            decode)
    }

    /// The queued tasks' entries, oldest first (four columns a row, no task decoded).
    public func queueEntries() async -> [TaskQueue.Entry] {
        var entries: [TaskQueue.Entry] = []
        do {
            try await ready.value
            let rows = try await client.query(
                """
                SELECT id, priority, created_at, caller, ready_at FROM task
                WHERE status = \(TaskStatus.queued.rawValue) ORDER BY created_at, id
                """, logger: logger)
            for try await (id, priority, created, caller, ready) in rows.decode(
                (String, String, Double, String?, Double?).self)
            {
                guard let priority = Priority(rawValue: priority) else { continue }
                entries.append(
                    TaskQueue.Entry(
                        id: id, priority: priority, enqueuedAt: Date(timeIntervalSince1970: created), tenant: caller,
                        readyAt: ready.map(Date.init(timeIntervalSince1970:))))
            }
        } catch {
            if !Task.isCancelled {
                logger.error("store read failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        return entries
    }

    /// A page of tasks, newest first.
    public func page(caller: String?, status: TaskStatus?, after cursor: TaskCursor?, limit: Int)
        async throws(TaskStoreError) -> [GenerationTask]
    {
        let seconds = cursor?.createdAt.timeIntervalSince1970
        let query: PostgresQuery = """
            SELECT body FROM task
            WHERE (\(caller)::TEXT IS NULL OR caller = \(caller))
              AND (\(status?.rawValue)::TEXT IS NULL OR status = \(status?.rawValue))
              AND (\(seconds)::DOUBLE PRECISION IS NULL OR created_at < \(seconds)
                   OR (created_at = \(seconds) AND id < \(cursor?.id)))
            ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """
        return try await reading { client, logger in
            var tasks: [GenerationTask] = []
            for try await body in try await client.query(query, logger: logger).decode(String.self) {
                if let task = self.decode(body) { tasks.append(task) }
            }
            return tasks
        }
    }

    /// The tasks whose images include `name`.
    public func tasks(usingFile name: String) async -> [GenerationTask] {
        await bodies("SELECT task.body FROM image JOIN task ON task.id = image.task_id WHERE image.file = \(name)")
            .compactMap(decode)
    }

    /// Deletes the tasks that ended before `cutoff` (their images and webhook messages with them) and expired
    /// idempotency keys; returns the tasks and the files no remaining task uses.
    public func removeEnded(before cutoff: Date) async -> RemovedTasks {
        let terminal = TaskStatus.allCases.filter(\.isTerminal).map(\.rawValue)
        let keysCutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds).timeIntervalSince1970
        let limit = cutoff.timeIntervalSince1970
        let removed = try? await transaction { connection -> ([String], [String]) in
            var ids: [String] = []
            var bodies: [String] = []
            for try await (id, body) in try await connection.query(
                """
                SELECT id, body FROM task
                WHERE status = ANY(\(terminal)) AND COALESCE(finished_at, created_at) < \(limit) FOR UPDATE
                """, logger: self.logger
            ).decode((String, String).self) {
                ids.append(id)
                bodies.append(body)
            }
            var files: [String] = []
            for try await file in try await connection.query(
                "SELECT DISTINCT file FROM image WHERE task_id = ANY(\(ids))", logger: self.logger
            ).decode(String.self) {
                files.append(file)
            }
            // Image rows and webhook messages go with their task (ON DELETE CASCADE).
            try await connection.query("DELETE FROM task WHERE id = ANY(\(ids))", logger: self.logger)
            try await connection.query(
                "DELETE FROM idempotency_key WHERE created_at < \(keysCutoff)", logger: self.logger)
            var unused: [String] = []
            for file in files.sorted() {
                let used = try await connection.query("SELECT 1 FROM image WHERE file = \(file)", logger: self.logger)
                if try await !used.hasRows { unused.append(file) }
            }
            return (bodies, unused)
        }
        return RemovedTasks(tasks: (removed?.0 ?? []).compactMap(decode), unusedFiles: removed?.1 ?? [])
    }

    // MARK: - Idempotency keys

    /// The record for `key` in `scope`, while it lives.
    public func idempotencyRecord(scope: String, key: String) async -> IdempotencyRecord? {
        let cutoff = Date().addingTimeInterval(-IdempotencyRecord.lifetime.seconds).timeIntervalSince1970
        do {
            try await ready.value
            let rows = try await client.query(
                """
                SELECT fingerprint, task_id, response, created_at FROM idempotency_key
                WHERE scope = \(scope) AND key = \(key) AND created_at >= \(cutoff)
                """, logger: logger)
            for try await (fingerprint, taskID, response, created) in rows.decode(
                (String, String, String?, Double).self)
            {
                return IdempotencyRecord(
                    scope: scope, key: key, fingerprint: fingerprint, taskID: taskID, response: response,
                    createdAt: Date(timeIntervalSince1970: created))
            }
        } catch {
            if !Task.isCancelled {
                logger.error("store read failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        return nil
    }

    /// Records the first answer for `key`.
    public func saveIdempotentResponse(scope: String, key: String, response: String) async {
        await execute("UPDATE idempotency_key SET response = \(response) WHERE scope = \(scope) AND key = \(key)")
    }

    // MARK: - Webhook outbox

    /// Claims due pending messages: locked with `SKIP LOCKED`, so gateways claiming at once take different
    /// ones, and pushed `lease` ahead in the same transaction.
    public func claimWebhooks(dueBy now: Date, lease: Duration, limit: Int) async -> [WebhookDelivery] {
        let claimed = try? await transaction { connection -> [WebhookDelivery] in
            var due: [WebhookDelivery] = []
            for try await body in try await connection.query(
                """
                SELECT body FROM webhook_delivery
                WHERE status = \(WebhookDelivery.Status.pending.rawValue) AND next_attempt_at <= \(now.timeIntervalSince1970)
                ORDER BY next_attempt_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: self.logger
            ).decode(String.self) {
                if let message = try? self.decoder.decode(WebhookDelivery.self, from: Data(body.utf8)) {
                    due.append(message)
                }
            }
            for index in due.indices {
                due[index].nextAttemptAt = now.addingTimeInterval(lease.seconds)
                try await self.updateWebhook(due[index], connection)
            }
            return due
        }
        return claimed ?? []
    }

    /// Stores a message after an attempt.
    public func updateWebhook(_ delivery: WebhookDelivery) async {
        _ = try? await transaction { connection in try await self.updateWebhook(delivery, connection) }
    }

    /// A task's messages, oldest first.
    public func webhooks(of taskID: String) async -> [WebhookDelivery] {
        await bodies("SELECT body FROM webhook_delivery WHERE task_id = \(taskID) ORDER BY created_at, id")
            .compactMap { try? decoder.decode(WebhookDelivery.self, from: Data($0.utf8)) }
    }

    // MARK: - Result cache (`cache.backend: database`)

    /// The live entry for `key`.
    public func cachedResult(key: String, now: Date) async -> CachedResult? {
        await bodies(
            "SELECT body FROM result_cache WHERE key = \(key) AND expires_at > \(now.timeIntervalSince1970)"
        ).first.flatMap { try? decoder.decode(CachedResult.self, from: Data($0.utf8)) }
    }

    /// Records (or replaces) the entry for `key`.
    public func storeResult(_ result: CachedResult, key: String) async {
        guard let data = try? encoder.encode(result) else { return }
        let body = String(decoding: data, as: UTF8.self)
        await execute(
            """
            INSERT INTO result_cache (key, body, expires_at) VALUES (\(key), \(body), \(result.expiresAt.timeIntervalSince1970))
            ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at
            """)
    }

    /// Drops expired entries.
    public func removeExpiredResults(now: Date) async {
        await execute("DELETE FROM result_cache WHERE expires_at <= \(now.timeIntervalSince1970)")
    }

    // MARK: - Plumbing

    /// Runs `body` (reads, or one statement) once the schema is ready; store errors pass through, others become
    /// `store.unavailable`.
    func reading<T: Sendable>(_ body: @Sendable (PostgresClient, Logger) async throws -> T)
        async throws(TaskStoreError) -> T
    {
        do {
            try await ready.value
            return try await body(client, logger)
        } catch let error as TaskStoreError {
            throw error
        } catch {
            throw .unavailable(error)
        }
    }

    /// Runs `body` in a transaction once the schema is ready; store errors pass through, others become
    /// `store.unavailable`.
    func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T)
        async throws(TaskStoreError) -> T
    {
        do {
            try await ready.value
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as TaskStoreError {
            throw error
        } catch let error as PostgresTransactionError {
            if let error = error.closureError as? TaskStoreError { throw error }
            throw .unavailable(error)
        } catch {
            throw .unavailable(error)
        }
    }

    /// The `body` column of every row of a query (empty when the database cannot be read).
    func bodies(_ query: PostgresQuery) async -> [String] {
        do {
            try await ready.value
            var bodies: [String] = []
            for try await body in try await client.query(query, logger: logger).decode(String.self) {
                bodies.append(body)
            }
            return bodies
        } catch {
            if !Task.isCancelled {
                logger.error("store read failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            return []
        }
    }

    private func execute(_ query: PostgresQuery) async {
        do {
            try await ready.value
            try await client.query(query, logger: logger)
        } catch {
            logger.error("store write failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    private func writeImages(of task: GenerationTask, _ connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM image WHERE task_id = \(task.id)", logger: logger)
        for file in Set(task.images.map(\.file)).sorted() {
            try await connection.query(
                "INSERT INTO image (task_id, file) VALUES (\(task.id), \(file)) ON CONFLICT DO NOTHING", logger: logger)
        }
    }

    private func insertWebhook(_ message: WebhookDelivery, _ connection: PostgresConnection) async throws {
        let body = String(decoding: try encoder.encode(message), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO webhook_delivery (id, task_id, status, next_attempt_at, created_at, body)
            VALUES (\(message.id), \(message.taskID), \(message.status.rawValue),
                    \(message.nextAttemptAt?.timeIntervalSince1970), \(message.createdAt.timeIntervalSince1970), \(body))
            """, logger: logger)
    }

    private func updateWebhook(_ message: WebhookDelivery, _ connection: PostgresConnection) async throws {
        let body = String(decoding: try encoder.encode(message), as: UTF8.self)
        try await connection.query(
            """
            UPDATE webhook_delivery SET status = \(message.status.rawValue),
                next_attempt_at = \(message.nextAttemptAt?.timeIntervalSince1970), body = \(body)
            WHERE id = \(message.id)
            """, logger: logger)
    }

    func encode(_ task: GenerationTask) throws(TaskStoreError) -> String {
        do {
            return String(decoding: try encoder.encode(task), as: UTF8.self)
        } catch {
            throw .unavailable(error)
        }
    }

    func decode(_ body: String) -> GenerationTask? {
        try? decoder.decode(GenerationTask.self, from: Data(body.utf8))
    }
}

extension PostgresRowSequence {
    /// Whether the query returned any row (the rest is not read).
    var hasRows: Bool {
        get async throws {
            for try await _ in self { return true }
            return false
        }
    }
}
