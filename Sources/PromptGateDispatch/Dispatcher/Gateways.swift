import Foundation
import Logging

/// A gateway's share of the work when several use one store (`SharedTaskStore`): it keeps its leases with a
/// heartbeat and takes over the runs of gateways that stopped; it keeps its copy of the queue in step with
/// the store (every change arrives as a notice; the whole queue is read again every `store.sync_interval` and
/// after a reconnection); a run ending anywhere wakes it, since capacity may have been freed.
extension Dispatcher {
    /// Heartbeat every third of `store.lease_timeout`; after each, the runs whose leases lapsed are taken over
    /// (`TaskRun.resume`: collected, followed, or sent again when the backend forgot them).
    func keepLeases(_ shared: any SharedTaskStore) async {
        let beat = shared.gateway.leaseTimeout / 3
        await withDiscardingTaskGroup { runs in
            while !Task.isCancelled {
                try? await Task.sleep(for: beat)
                if Task.isCancelled { break }
                let running = scheduler.runningIDs
                do throws(TaskStoreError) {
                    let held = try await shared.heartbeat(renewing: running)
                    // Runs missing from the renewed leases either ended meanwhile or were taken over (their
                    // leases lapsed while the database was out of reach): the store tells which.
                    var lost: [String] = []
                    for id in running.subtracting(held) {
                        if let task = await store.task(id: id), task.status == .running,
                            task.attemptList.last?.gateway != shared.gateway.name
                        {
                            lost.append(id)
                        }
                    }
                    if !lost.isEmpty {
                        // The gateway that took them over follows them now; these attempts stop at their next look
                        // at the store.
                        logger.warning("runs taken over by another gateway", metadata: ["tasks": "\(lost.sorted())"])
                    }
                } catch {
                    logger.warning(
                        "heartbeat failed; another gateway takes this one's runs over once store.lease_timeout passes",
                        metadata: ["error": "\(error.message)"])
                    continue
                }
                // A lapsed lease of a run this gateway still follows (its heartbeats failed for a while) is simply
                // its own again.
                let taken = await shared.takeOverRuns(includingOwn: false).filter { !scheduler.isRunning($0.id) }
                guard !taken.isEmpty else { continue }
                let (follow, requeued) = await adopt(taken)
                logger.notice(
                    "took over the runs of a gateway that stopped",
                    metadata: ["following": "\(follow.count)", "requeued": "\(requeued)"])
                for (task, start) in follow { runs.addTask { await self.execute(start, resuming: task) } }
                if requeued > 0 { wakeup.yield() }
            }
        }
    }

    /// Applies the queue's notices to this gateway's copy and reads the whole queue every
    /// `store.sync_interval`.
    func followQueue(_ shared: any SharedTaskStore) async {
        let me = shared.gateway.name
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.syncInterval)
                    if Task.isCancelled { break }
                    await self.syncQueue()
                }
            }
            for await notice in shared.queueNotices() {
                switch notice {
                case .queued(let entry, let from):
                    if from != me, scheduler.mirror(entry) { wakeup.yield() }
                case .left(let id):
                    scheduler.dropQueued(id)
                case .ended:
                    scheduler.capacityMayHaveFreed()
                    wakeup.yield()
                case .resync:
                    await syncQueue()
                }
            }
            group.cancelAll()
        }
    }

    /// Reads the store's queue and makes this gateway's copy match it.
    func syncQueue() async {
        let began = ContinuousClock.now
        let entries = await store.queueEntries()
        scheduler.sync(entries, readBegan: began)
        wakeup.yield()
    }
}
