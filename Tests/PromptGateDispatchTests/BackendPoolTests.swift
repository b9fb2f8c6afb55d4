import PromptGateDispatch
import Testing

@Suite("Backend pool")
struct BackendPoolTests {
    let pool = BackendPool(
        backends: [
            .init(name: "gpu0", url: "http://10.0.0.1:8188", maxInFlight: 2),
            .init(name: "gpu1", url: "http://10.0.0.2:8188"),
        ],
        failureThreshold: 2)

    init() {
        pool.recordValidation("gpu0", problem: nil)
        pool.recordValidation("gpu1", problem: nil)
    }

    @Test func noWorkBeforeTheWorkflowWasChecked() {
        let fresh = BackendPool(backends: [.init(name: "gpu0", url: "http://10.0.0.1:8188")])
        #expect(fresh.acquire() == nil)
        #expect(fresh.snapshot[0].state.label == "checking")
        fresh.recordValidation("gpu0", problem: nil)
        #expect(fresh.acquire()?.name == "gpu0")
    }

    @Test func fewestInFlightFirstWithinCapacity() {
        #expect(pool.acquire()?.name == "gpu0")
        #expect(pool.acquire()?.name == "gpu1")  // gpu0 has one in flight, gpu1 none
        #expect(pool.acquire()?.name == "gpu0")  // gpu1 is full (max 1)
        #expect(pool.acquire() == nil)  // everything full
        pool.release("gpu1")
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.snapshot.map(\.state.inFlight) == [2, 1])
    }

    @Test func retriesAvoidTheBackendThatFailedWhileAnotherIsAvailable() {
        #expect(pool.acquire(avoiding: ["gpu0"])?.name == "gpu1")
        #expect(pool.acquire(avoiding: ["gpu0"]) == nil)  // gpu1 is available but full: wait for it
        pool.release("gpu1")
        pool.recordHealth("gpu1", ok: false)
        pool.recordHealth("gpu1", ok: false)
        #expect(pool.acquire(avoiding: ["gpu0"])?.name == "gpu0")  // the only one left
    }

    @Test func downAfterConsecutiveFailuresBackOnSuccess() {
        #expect(!pool.recordHealth("gpu0", ok: false))
        #expect(pool.recordHealth("gpu0", ok: false))  // second failure: down
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.acquire() == nil)  // a down backend gets no work
        #expect(pool.recordHealth("gpu0", ok: true))  // back, but checked again before it gets work
        #expect(pool.acquire() == nil)
        #expect(pool.needsValidation("gpu0"))
        pool.recordValidation("gpu0", problem: nil)
        #expect(pool.acquire()?.name == "gpu0")
    }

    @Test func ineligibleWithAReason() {
        pool.recordValidation(
            "gpu0",
            problem: TaskReason(
                code: "backend.missing_nodes",
                message: "node 45: class NunchakuFluxDiTLoader is not installed on this server"))
        #expect(pool.acquire()?.name == "gpu1")
        #expect(pool.acquire() == nil)
        #expect(pool.snapshot[0].state.ineligibleReason?.message.contains("NunchakuFluxDiTLoader") == true)
        #expect(pool.snapshot[0].state.label == "ineligible" && pool.needsValidation("gpu0"))
        pool.recordValidation("gpu0", problem: nil)
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

    @Test func roundRobinTakesTurnsAmongBackendsWithRoom() {
        let pool = BackendPool(
            backends: ["a", "b", "c"].map { .init(name: $0, url: "http://\($0):8188", maxInFlight: 2) },
            strategy: .roundRobin)
        for name in ["a", "b", "c"] {
            _ = pool.recordHealth(name, ok: true)
            pool.recordValidation(name, problem: nil)
        }
        let picks = (0..<6).compactMap { _ in pool.acquire()?.name }
        #expect(picks == ["a", "b", "c", "a", "b", "c"])
        #expect(pool.acquire() == nil)  // all full
        pool.release("b")
        #expect(pool.acquire()?.name == "b")  // the only one with room, whatever the turn
    }
}
