import Foundation
import PromptGateCore

/// A backend a claim may put a task on, with how many runs it takes at once (`max_in_flight`).
public struct ClaimSlot: Sendable, Equatable {
    /// The backend's name.
    public var backend: String
    /// Its `max_in_flight`.
    public var maxInFlight: Int

    /// - Parameters: the backend's name and its `max_in_flight`.
    public init(backend: String, maxInFlight: Int) {
        self.backend = backend
        self.maxInFlight = maxInFlight
    }
}

/// What `TaskStore.claim` got.
public enum ClaimOutcome: Sendable, Equatable {
    /// The task is `running` now, on the backend its `backend` names.
    case claimed(GenerationTask)
    /// Every offered backend is full, or the tenant runs its `max_running`, counting every gateway's runs: the
    /// task stays queued.
    case busy(String)
    /// The task is not queued any more (another gateway took it, or it was cancelled or expired).
    case gone
}

/// This gateway as a shared store knows it: the name its leases carry and how long they last.
public struct GatewayIdentity: Sendable, Equatable {
    /// `store.gateway_name`.
    public var name: String
    /// `store.lease_timeout`.
    public var leaseTimeout: Duration

    /// - Parameters: the gateway's name and its lease timeout.
    public init(name: String, leaseTimeout: Duration) {
        self.name = name
        self.leaseTimeout = leaseTimeout
    }
}

/// A gateway as `/status` lists it.
public struct GatewayRecord: Sendable, Equatable {
    /// Its name.
    public var name: String
    /// When its process started.
    public var startedAt: Date
    /// Its last heartbeat.
    public var heartbeatAt: Date
    /// Whether its heartbeat is younger than the lease timeout.
    public var alive: Bool
    /// The ids of the running tasks whose leases it holds.
    public var leases: [String]

    /// - Parameters: what the gateway table holds of it.
    public init(name: String, startedAt: Date, heartbeatAt: Date, alive: Bool, leases: [String]) {
        self.name = name
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.alive = alive
        self.leases = leases
    }
}

/// A change to the shared queue, sent by the gateway that made it to every gateway (PostgreSQL NOTIFY).
public enum QueueNotice: Sendable, Equatable {
    /// A task entered the queue (accepted, or queued again for a retry), from the gateway named.
    case queued(TaskQueue.Entry, from: String)
    /// A task left the queue (claimed, cancelled, expired).
    case left(String)
    /// A run ended somewhere: capacity may have been freed.
    case ended
    /// The notices may have had a gap (the listening connection was opened again): read the whole queue.
    case resync
}

/// A task store several gateways share (PostgreSQL). Beside `TaskStore`: `claim` counts every gateway's runs
/// against `max_in_flight` and `max_running` and stamps the run with this gateway's lease; a heartbeat keeps
/// the leases; runs whose gateway died are taken over once their leases lapse; queue changes reach every
/// gateway as notices.
public protocol SharedTaskStore: TaskStore {
    /// This gateway.
    var gateway: GatewayIdentity { get }
    /// Records this gateway as alive and renews the leases of the runs it follows now (`running`). A lease it
    /// holds for a run it no longer follows (the run ended while its end could not be stored) is left to lapse,
    /// so the run is taken over and reconciled with its backend.
    /// - Returns: the ids among `running` whose leases it still holds (one missing was taken over while this
    ///   gateway could not reach the database, or ended).
    /// - Throws: `store.unavailable` when the database cannot be reached.
    func heartbeat(renewing running: Set<String>) async throws(TaskStoreError) -> Set<String>
    /// Takes over running tasks whose leases lapsed (their gateway died), and with `includingOwn` those this
    /// gateway's name held before a restart: each one's lease is this gateway's now, and its current attempt
    /// names it.
    func takeOverRuns(includingOwn: Bool) async -> [GenerationTask]
    /// Lets the leases of this gateway's runs lapse now (a graceful stop): another gateway takes the runs over
    /// at its next heartbeat instead of after `store.lease_timeout`.
    func releaseLeases() async
    /// Every gateway that has used the store, newest heartbeat first.
    func gateways() async -> [GatewayRecord]
    /// The queue's changes as every gateway makes them; `.resync` first and after every reconnection. Ends
    /// when the consuming task is cancelled.
    func queueNotices() -> AsyncStream<QueueNotice>
}
