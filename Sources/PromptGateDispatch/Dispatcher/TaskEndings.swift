import Foundation
import Synchronization

/// Tells whoever waits on a task that it ended: sits between the dispatcher's parts and the metrics
/// observer, sees every terminal state (completed, failed, cancelled, expired, a cache hit) as it is stored,
/// and hands the stored task to each subscriber of that id. Ends reached on another gateway are not seen
/// here; `Dispatcher.waitForEnd` reads the store on an interval for those.
final class TaskEndings: DispatchObserver {
    private let next: (any DispatchObserver)?
    private let subscribers = Mutex<[String: [UUID: AsyncStream<GenerationTask>.Continuation]]>([:])
    private let listeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    /// - Parameter next: the observer every report is passed on to (metrics).
    init(forwardingTo next: (any DispatchObserver)?) { self.next = next }

    func taskStarted(_ task: GenerationTask, waited: Duration) { next?.taskStarted(task, waited: waited) }

    func taskClaimed(outcome: String, took: Duration) { next?.taskClaimed(outcome: outcome, took: took) }

    func taskEnded(_ task: GenerationTask, ran: Duration?) {
        next?.taskEnded(task, ran: ran)
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield() }
        let waiting = subscribers.withLock { $0.removeValue(forKey: task.id) } ?? [:]
        for continuation in waiting.values {
            continuation.yield(task)
            continuation.finish()
        }
    }

    /// The task's end as one element, when it comes; the stream finishes after it. Finishing the returned
    /// continuation unsubscribes.
    func end(of id: String) -> (AsyncStream<GenerationTask>, AsyncStream<GenerationTask>.Continuation) {
        let token = UUID()
        let (stream, continuation) = AsyncStream.makeStream(
            of: GenerationTask.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { subscribers in
                subscribers[id]?[token] = nil
                if subscribers[id]?.isEmpty == true { subscribers[id] = nil }
            }
        }
        subscribers.withLock { $0[id, default: [:]][token] = continuation }
        return (stream, continuation)
    }

    /// A signal after every end stored here (coalesced: a slow reader sees one for several); the stream lives
    /// until its reader stops iterating it.
    func anyEnd() -> AsyncStream<Void> {
        let token = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in self?.listeners.withLock { $0[token] = nil } }
        listeners.withLock { $0[token] = continuation }
        return stream
    }

    /// Ids someone waits on now (tests).
    var waitedOn: Int { subscribers.withLock { $0.count } }
}
