import Foundation
import Logging
import PromptGateCore

/// Ends what time ends: tasks that waited longer than `queue_timeout` expire, and tasks that ended longer
/// than `task_retention` ago are forgotten together with the images no other task uses.
struct Janitor: Sendable {
    let scheduler: Scheduler
    /// The backends: an expiry says why none ran the task.
    let pool: BackendPool
    let store: any TaskStore
    /// The result cache, when on: its expired entries go with the retention sweep.
    let cache: (any ResultCache)?
    let output: OutputFolder
    let settings: DispatchSettings
    let observer: (any DispatchObserver)?
    let logger: Logger

    /// Expires and sweeps until cancelled: expiry every second (or a quarter of `queue_timeout`), retention
    /// every 30 s (or a quarter of `task_retention`).
    func run() async {
        let step = min(Duration.seconds(1), settings.queueTimeout / 4)
        var lastSweep = ContinuousClock.now
        while !Task.isCancelled {
            await expireWaiting()
            if ContinuousClock.now - lastSweep > min(.seconds(30), settings.taskRetention / 4) {
                await removeOldTasks()
                lastSweep = .now
            }
            try? await Task.sleep(for: step)
        }
    }

    /// Expires tasks that waited longer than `queue_timeout`.
    func expireWaiting() async {
        let now = Date()
        let timeout = settings.queueTimeout
        let expiredIDs = scheduler.removeExpired(olderThan: timeout.seconds, now: now)
        guard !expiredIDs.isEmpty else { return }
        // Why nothing ran them: no backend could take work (each one's reason), or the queue was too long.
        let (why, details): (String, JSONValue?) =
            switch pool.availability {
            case .ready: ("the queue ahead of it did not drain in time", nil)
            case .waiting(let reason), .impossible(let reason): (reason.message, reason.details)
            }
        for id in expiredIDs {
            guard
                let expired = try? await store.transition(
                    id: id, to: .expired,
                    { task in
                        task.reason = TaskReason(
                            code: "queue_timeout",
                            message: "waited longer than queue.queue_timeout (\(timeout)) for a backend: \(why)",
                            details: details)
                        task.finishedAt = now
                    })
            else { continue }
            observer?.taskEnded(expired, ran: nil)
            logger.warning("task expired in the queue", metadata: ["task": "\(id)"])
        }
    }

    /// Forgets tasks that ended longer than `task_retention` ago and deletes their images.
    func removeOldTasks() async {
        await cache?.removeExpiredResults(now: Date())
        let removed = await store.removeEnded(before: Date().addingTimeInterval(-settings.taskRetention.seconds))
        guard !removed.tasks.isEmpty else { return }
        output.remove(removed.unusedFiles)
        logger.info(
            "removed ended tasks past retention",
            metadata: ["tasks": "\(removed.tasks.count)", "files": "\(removed.unusedFiles.count)"])
    }
}
