import Synchronization

/// `estimated_time` for a new task: an exponential moving average of measured run times per workflow, times
/// the runs ahead of it per free slot.
public final class RunTimeEstimator: Sendable {
    private let averages = Mutex<[String: Double]>([:])
    /// Weight of the newest measurement.
    public let smoothing: Double
    /// Used until a workflow has been measured once (seconds).
    public let initialGuess: Double

    /// An estimator that moves `smoothing` of the way to each new measurement, starting at `initialGuess` seconds.
    public init(smoothing: Double = 0.2, initialGuess: Double = 30) {
        self.smoothing = min(1, max(0.01, smoothing))
        self.initialGuess = initialGuess
    }

    /// Records a finished run.
    public func record(workflow: String, seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        averages.withLock { averages in
            averages[workflow] = averages[workflow].map { $0 + smoothing * (seconds - $0) } ?? seconds
        }
    }

    /// The average run time of a workflow (seconds).
    public func average(workflow: String) -> Double { averages.withLock { $0[workflow] } ?? initialGuess }

    /// Seconds until a task at queue `position` (1 = next) finishes, with `slots` tasks running in parallel.
    public func estimate(workflow: String, position: Int, slots: Int) -> Int {
        let run = average(workflow: workflow)
        let rounds = (Double(max(1, position)) / Double(max(1, slots))).rounded(.up)
        return Int((rounds * run).rounded(.up))
    }
}
