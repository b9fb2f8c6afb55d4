import Foundation
import Logging
import PostgresNIO
import PromptGateCore
import Synchronization

/// What several gateways on one database need of it: claims that count every gateway's runs, leases kept by a
/// heartbeat and taken over when they lapse, queue notices (LISTEN/NOTIFY), and the shared rate-limit state.
/// Every lease time is the database's clock (`clock_timestamp()`), so gateways whose clocks differ agree.
extension PostgresTaskStore: SharedTaskStore {
    /// The NOTIFY channel queue changes go to.
    static let channel = "promptgate_queue"

    /// The database's clock, in seconds since 1970.
    private static let clock = "EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION"
    /// The database's clock, in whole microseconds since 1970 (exact: `EXTRACT` is numeric).
    private static let microseconds = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"

    // MARK: - Claims

    /// In one transaction: the first row of `id` and then `alternatives` that is still queued and not being
    /// claimed, in one statement `FOR UPDATE SKIP LOCKED` (a gateway claiming a row at the same moment makes
    /// this one take the next); then, under transaction advisory locks per backend and per tenant (so two
    /// claims cannot both see the last free slot), the running counts across all gateways; the first slot with
    /// room gets the task, stamped with this gateway's lease.
    public func claim(
        _ id: String, or alternatives: [String], on slots: [ClaimSlot], tenantLimit: Int?,
        _ begin: @Sendable (inout GenerationTask, String) -> Void
    ) async throws(TaskStoreError) -> ClaimOutcome {
        guard !slots.isEmpty else { return .busy("no backend offered") }
        let candidates = [id] + alternatives
        let lease = gateway.leaseTimeout.seconds, owner = gateway.name
        let outcome = try await transaction { connection -> ClaimOutcome in
            var stored: GenerationTask?
            for try await body in try await connection.query(
                """
                SELECT body FROM task WHERE id = ANY(\(candidates)) AND status = 'queued'
                ORDER BY array_position(\(candidates), id) LIMIT 1 FOR UPDATE SKIP LOCKED
                """, logger: self.logger
            ).decode(String.self) {
                stored = self.decode(body)
            }
            guard var task = stored else {
                // Locked by other claims in progress (which may yet give them back), or not queued any more.
                let status = try await connection.query("SELECT status FROM task WHERE id = \(id)", logger: self.logger)
                for try await status in status.decode(String.self) where status == TaskStatus.queued.rawValue {
                    return .busy("another gateway is claiming it")
                }
                return .gone
            }
            let id = task.id
            let names = slots.map(\.backend)
            // Every lock in one statement, in one order for every claimer (backends by name, then the tenant),
            // so two claims never wait on each other crosswise.
            let tenant = tenantLimit == nil ? nil : task.caller
            let keys =
                Set(names).sorted().map { "promptgate.backend." + $0 }
                + (tenant.map { ["promptgate.tenant." + $0] } ?? [])
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext(key)) FROM unnest(\(keys)::TEXT[]) WITH ORDINALITY AS k(key, n) ORDER BY n",
                logger: self.logger)
            // The running counts across all gateways, per backend offered and (NULL backend) of the tenant.
            var load: [String: Int] = [:]
            var tenantRunning = 0
            for try await (backend, count) in try await connection.query(
                """
                SELECT backend, count(*) FROM task WHERE status = 'running' AND backend = ANY(\(names)) GROUP BY backend
                UNION ALL
                SELECT NULL, count(*) FROM task WHERE status = 'running' AND caller = \(tenant) AND \(tenant)::TEXT IS NOT NULL
                """, logger: self.logger
            ).decode((String?, Int).self) {
                if let backend { load[backend] = count } else { tenantRunning = count }
            }
            if let tenant, let tenantLimit, tenantRunning >= tenantLimit {
                return .busy("\(tenant) runs its max_running (\(tenantLimit))")
            }
            guard let slot = slots.first(where: { (load[$0.backend] ?? 0) < $0.maxInFlight }) else {
                return .busy("every backend offered runs its max_in_flight")
            }
            task = try task.moved(to: .running) { begin(&$0, slot.backend) }
            if !task.attemptList.isEmpty { task.attemptList[task.attemptList.count - 1].gateway = owner }
            let body = try self.encode(task)
            try await connection.query(
                """
                UPDATE task SET status = \(task.status.rawValue), attempts = \(task.attempts),
                    backend = \(task.backend), prompt_id = \(task.promptID), ready_at = NULL, body = \(body),
                    lease_owner = \(owner), lease_until = \(unescaped: Self.clock) + \(lease)
                WHERE id = \(id)
                """, logger: self.logger)
            return .claimed(task)
        }
        if case .claimed(let task) = outcome { announce(from: .queued, to: task) }
        return outcome
    }

    // MARK: - Leases

    /// Upserts this gateway's row and pushes the leases of `running` `store.lease_timeout` ahead; drops
    /// rate-limit buckets that are full again (they carry no information). A row of this name that another
    /// process wrote since this one's last heartbeat means two live gateways share the name (they would take
    /// each other's runs): logged as an error each time.
    public func heartbeat(renewing running: Set<String>) async throws(TaskStoreError) -> Set<String> {
        let ids = running.sorted()
        let lease = gateway.leaseTimeout.seconds, owner = gateway.name
        let instance = instance, started = startedAt.timeIntervalSince1970
        let last = lastHeartbeat.withLock { $0 }
        let (held, beat) = try await transaction { connection -> (Set<String>, Double) in
            var beat = 0.0
            for try await (now, previous, previousBeat) in try await connection.query(
                """
                WITH previous AS (SELECT instance, heartbeat_at FROM gateway WHERE name = \(owner))
                INSERT INTO gateway (name, instance, started_at, heartbeat_at)
                VALUES (\(owner), \(instance), \(started), \(unescaped: Self.clock))
                ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, started_at = excluded.started_at,
                    heartbeat_at = excluded.heartbeat_at
                RETURNING heartbeat_at, (SELECT instance FROM previous), (SELECT heartbeat_at FROM previous)
                """, logger: self.logger
            ).decode((Double, String?, Double?).self) {
                beat = now
                if let previous, previous != instance, let last, let previousBeat, previousBeat > last {
                    self.logger.error(
                        "another live gateway uses this store.gateway_name: give each gateway its own name",
                        metadata: ["gateway_name": "\(owner)"])
                }
            }
            var held: Set<String> = []
            for try await id in try await connection.query(
                """
                UPDATE task SET lease_until = \(unescaped: Self.clock) + \(lease)
                WHERE status = 'running' AND lease_owner = \(owner) AND id = ANY(\(ids)) RETURNING id
                """, logger: self.logger
            ).decode(String.self) {
                held.insert(id)
            }
            try await connection.query(
                "DELETE FROM rate_limit WHERE arrival < \(unescaped: Self.microseconds)", logger: self.logger)
            return (held, beat)
        }
        lastHeartbeat.withLock { $0 = beat }
        return held
    }

    /// Running tasks with a lapsed lease (or none: stored before leases existed), and with `includingOwn` the
    /// ones this gateway's name holds, taken with `SKIP LOCKED` (two gateways taking over at once split them).
    public func takeOverRuns(includingOwn: Bool) async -> [GenerationTask] {
        let lease = gateway.leaseTimeout.seconds, owner = gateway.name
        let taken = try? await transaction { connection -> [GenerationTask] in
            var tasks: [GenerationTask] = []
            for try await body in try await connection.query(
                """
                SELECT body FROM task WHERE status = 'running'
                  AND (lease_until IS NULL OR lease_until < \(unescaped: Self.clock)
                       OR (\(includingOwn) AND lease_owner = \(owner)))
                ORDER BY created_at FOR UPDATE SKIP LOCKED
                """, logger: self.logger
            ).decode(String.self) {
                if let task = self.decode(body) { tasks.append(task) }
            }
            for index in tasks.indices {
                var task = tasks[index]
                if !task.attemptList.isEmpty { task.attemptList[task.attemptList.count - 1].gateway = owner }
                let body = try self.encode(task)
                try await connection.query(
                    """
                    UPDATE task SET body = \(body), lease_owner = \(owner),
                        lease_until = \(unescaped: Self.clock) + \(lease)
                    WHERE id = \(task.id)
                    """, logger: self.logger)
                tasks[index] = task
            }
            return tasks
        }
        return taken ?? []
    }

    /// Sets this gateway's leases to have lapsed.
    public func releaseLeases() async {
        do {
            try await ready.value
            try await client.query(
                "UPDATE task SET lease_until = 0 WHERE status = 'running' AND lease_owner = \(gateway.name)",
                logger: logger)
        } catch {
            logger.warning(
                "could not release the leases; other gateways take the runs over after store.lease_timeout",
                metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// The gateway table with each one's leases; alive means a heartbeat within this gateway's lease timeout.
    public func gateways() async -> [GatewayRecord] {
        let lease = gateway.leaseTimeout.seconds
        var records: [GatewayRecord] = []
        do {
            try await ready.value
            let rows = try await client.query(
                """
                SELECT g.name, g.started_at, g.heartbeat_at, g.heartbeat_at >= \(unescaped: Self.clock) - \(lease),
                    COALESCE((SELECT array_agg(t.id ORDER BY t.id) FROM task t
                              WHERE t.status = 'running' AND t.lease_owner = g.name), '{}')
                FROM gateway g ORDER BY g.heartbeat_at DESC, g.name
                """, logger: logger)
            for try await (name, started, heartbeat, alive, leases) in rows.decode(
                (String, Double, Double, Bool, [String]).self)
            {
                records.append(
                    GatewayRecord(
                        name: name, startedAt: Date(timeIntervalSince1970: started),
                        heartbeatAt: Date(timeIntervalSince1970: heartbeat), alive: alive, leases: leases))
            }
        } catch {
            logger.error("store read failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        return records
    }

    // MARK: - Queue notices

    /// A connection of its own that LISTENs on `channel`, opened again a second after it fails; `.resync` each
    /// time it (re)starts listening, since notices sent meanwhile are lost.
    public func queueNotices() -> AsyncStream<QueueNotice> {
        let (stream, continuation) = AsyncStream.makeStream(of: QueueNotice.self)
        let client = client, logger = logger, decoder = JSONDecoder()
        let listener = Task {
            while !Task.isCancelled {
                do {
                    try await ready.value
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            continuation.yield(.resync)
                            for try await notification in notifications {
                                guard
                                    let notice = try? decoder.decode(
                                        NoticeBody.self, from: Data(notification.payload.utf8)
                                    ).notice
                                else { continue }
                                continuation.yield(notice)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning(
                        "queue notices interrupted; listening again in 1 s",
                        metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in listener.cancel() }
        return stream
    }

    /// Posts the notices a stored move makes (entering the queue, leaving it, a run ending), once its
    /// transaction has committed: sent from outside the data transactions, since a transaction that NOTIFYs
    /// holds the database's one notify lock through its commit and its WAL flush, and every insert, claim and
    /// end would queue behind it. A notice lost to a crash in between is made up by the next full read.
    func announce(from before: TaskStatus?, to task: GenerationTask) {
        if task.status == .queued, before != .queued {
            post(.queued(task.queueEntry, from: gateway.name))
        } else if before == .queued, task.status != .queued {
            post(.left(task.id))
        }
        if before == .running, task.status != .running { post(.ended) }
    }

    private func post(_ notice: QueueNotice) {
        guard let body = NoticeBody(notice), let data = try? encoder.encode(body) else { return }
        notices.post(String(decoding: data, as: UTF8.self))
    }

    /// A notice as it travels (JSON, well under NOTIFY's 8000 bytes).
    private struct NoticeBody: Codable {
        var kind: String
        var id: String?
        var priority: String?
        var queuedAt: Double?
        var tenant: String?
        var readyAt: Double?
        var from: String?

        init?(_ notice: QueueNotice) {
            switch notice {
            case .queued(let entry, let from):
                kind = "queued"
                id = entry.id
                priority = entry.priority.rawValue
                queuedAt = entry.enqueuedAt.timeIntervalSince1970
                tenant = entry.tenant
                readyAt = entry.readyAt?.timeIntervalSince1970
                self.from = from
            case .left(let id):
                kind = "left"
                self.id = id
            case .ended: kind = "ended"
            case .resync: return nil
            }
        }

        var notice: QueueNotice? {
            switch kind {
            case "queued":
                guard let id, let priority = priority.flatMap(Priority.init(rawValue:)), let queuedAt, let from else {
                    return nil
                }
                let entry = TaskQueue.Entry(
                    id: id, priority: priority, enqueuedAt: Date(timeIntervalSince1970: queuedAt), tenant: tenant,
                    readyAt: readyAt.map(Date.init(timeIntervalSince1970:)))
                return .queued(entry, from: from)
            case "left": return id.map(QueueNotice.left)
            case "ended": return .ended
            default: return nil
            }
        }
    }

    // MARK: - Shared rate limit

    /// One GCRA step for `bucket` in one upsert, on the database's clock in whole microseconds (integer
    /// arithmetic: no rounding at today's epoch): as many of `wanted` requests as fit within `tolerance` move the
    /// bucket's theoretical arrival time `emission` each; concurrent steps on any gateway serialize on the row,
    /// so all gateways together allow the configured rate. The table is unlogged (no WAL flush per request; a
    /// database crash empties it, and budgets start full again).
    /// - Returns: how many were granted, the arrival time after the step (granted) or as it stands (refused),
    ///   and the database's time, in microseconds.
    public func rateLimitStep(bucket: String, emission: Int64, tolerance: Int64, wanted: Int)
        async throws(TaskStoreError) -> (granted: Int, arrival: Int64, now: Int64)
    {
        let wanted = Int64(wanted)
        return try await reading { client, logger in
            // fits = whole requests that fit now: (now + tolerance - max(arrival, now)) / emission.
            let rows = try await client.query(
                """
                WITH clock AS (SELECT \(unescaped: Self.microseconds) AS now),
                step AS (
                    INSERT INTO rate_limit AS r (bucket, arrival, granted)
                    SELECT \(bucket), now + LEAST(\(wanted), \(tolerance) / \(emission)) * \(emission),
                        LEAST(\(wanted), \(tolerance) / \(emission))
                    FROM clock
                    ON CONFLICT (bucket) DO UPDATE
                        SET arrival = GREATEST(r.arrival, (SELECT now FROM clock)) + LEAST(\(wanted),
                                ((SELECT now FROM clock) + \(tolerance) - GREATEST(r.arrival, (SELECT now FROM clock)))
                                / \(emission)) * \(emission),
                            granted = LEAST(\(wanted),
                                ((SELECT now FROM clock) + \(tolerance) - GREATEST(r.arrival, (SELECT now FROM clock)))
                                / \(emission))
                        WHERE ((SELECT now FROM clock) + \(tolerance) - GREATEST(r.arrival, (SELECT now FROM clock)))
                            / \(emission) >= 1
                    RETURNING arrival, granted)
                SELECT (SELECT granted FROM step), COALESCE((SELECT arrival FROM step),
                    (SELECT arrival FROM rate_limit WHERE bucket = \(bucket))), (SELECT now FROM clock)
                """, logger: logger)
            for try await (granted, arrival, now) in rows.decode((Int64?, Int64?, Int64).self) {
                guard let granted, granted > 0 else { return (0, max(arrival ?? now, now), now) }
                return (Int(granted), arrival ?? now, now)
            }
            throw TaskStoreError(code: "store.unavailable", message: "the rate-limit step returned no row")
        }
    }
}

/// Queue notices waiting to be sent, oldest first, and the sender that sends them in batches: one
/// transaction per batch with `synchronous_commit` off (a notice carries no data worth a WAL flush).
final class NoticeOutbox: Sendable {
    private let pending = Mutex<[String]>([])
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() { (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1)) }

    /// Queues a payload for the next batch.
    func post(_ payload: String) {
        pending.withLock { $0.append(payload) }
        wake.yield()
    }

    /// Sends batches until cancelled; a batch that fails is dropped (logged): the next full read makes up.
    func send(through client: PostgresClient, after ready: Task<Void, any Error>, logger: Logger) async {
        guard (try? await ready.value) != nil else { return }
        for await _ in wakes {
            let batch = pending.withLock { pending in
                defer { pending.removeAll() }
                return pending
            }
            guard !batch.isEmpty else { continue }
            do {
                try await client.withTransaction(logger: logger) { connection in
                    try await connection.query("SET LOCAL synchronous_commit = off", logger: logger)
                    try await connection.query(
                        "SELECT pg_notify(\(PostgresTaskStore.channel), payload) FROM unnest(\(batch)) AS payload",
                        logger: logger)
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "queue notices not sent; gateways catch up at their next full read",
                    metadata: ["notices": "\(batch.count)", "error": "\(String(reflecting: error))"])
            }
        }
    }
}

extension GenerationTask {
    /// The task as a queue entry.
    var queueEntry: TaskQueue.Entry {
        TaskQueue.Entry(id: id, priority: priority, enqueuedAt: createdAt, tenant: caller, readyAt: retryAt)
    }
}
