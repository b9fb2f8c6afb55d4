import PromptGateDispatch
import Testing

@Suite("Backend pool")
struct BackendPoolTests {
    let pool = BackendPool(
        backends: [.init(name: "gpu0", url: "http://10.0.0.1:8188", maxInFlight: 2), .init(name: "gpu1", url: "http://10.0.0.2:8188")],
        failureThreshold: 2)

    @Test func fewestInFlightFirstWithinCapacity() {
        #expect(pool.acquire()?.name == "gpu0")
        #expect(pool.acquire()?.name == "gpu1")  // gpu0 has one in flight, gpu1 none
        #expect(pool.acquire()?.name == "gpu0")  // gpu1 is full (max 1)
        #expect(pool.acquire() == nil)  // everything full
        pool.release("gpu1")
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.snapshot.map(\.state.inFlight) == [2, 1])
    }

    @Test func retriesCanAvoidTheBackendThatFailed() {
        #expect(pool.acquire(excluding: ["gpu0"])?.name == "gpu1")
        #expect(pool.acquire(excluding: ["gpu0", "gpu1"]) == nil)
    }

    @Test func downAfterConsecutiveFailuresBackOnSuccess() {
        #expect(!pool.recordHealth("gpu0", ok: false))
        #expect(pool.recordHealth("gpu0", ok: false))  // second failure: down
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.acquire() == nil)  // a down backend gets no work
        #expect(pool.recordHealth("gpu0", ok: true))  // back
        #expect(pool.acquire()?.name == "gpu0")
    }

    @Test func ineligibleWithAReason() {
        pool.setIneligible("gpu0", reason: "node 45: class NunchakuFluxDiTLoader is not installed on this server")
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.acquire() == nil)
        #expect(pool.snapshot[0].state.ineligibleReason?.contains("NunchakuFluxDiTLoader") == true)
        pool.setIneligible("gpu0", reason: nil)
        #expect(pool.acquire()?.name == "gpu0")
    }
}

@Suite("Run-time estimates")
struct RunTimeEstimatorTests {
    @Test func movingAverageAndQueuePosition() {
        let estimator = RunTimeEstimator(smoothing: 0.5, initialGuess: 30)
        #expect(estimator.estimate(workflow: "flux", position: 1, slots: 2) == 30)
        estimator.record(workflow: "flux", seconds: 10)
        #expect(estimator.average(workflow: "flux") == 10)
        estimator.record(workflow: "flux", seconds: 20)
        #expect(estimator.average(workflow: "flux") == 15)
        #expect(estimator.estimate(workflow: "flux", position: 1, slots: 2) == 15)
        #expect(estimator.estimate(workflow: "flux", position: 3, slots: 2) == 30)  // two rounds ahead
        estimator.record(workflow: "flux", seconds: .nan)
        #expect(estimator.average(workflow: "flux") == 15)
        #expect(estimator.average(workflow: "sd") == 30)
    }
}
