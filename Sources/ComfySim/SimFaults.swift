import Foundation

/// Faults ComfySim can inject, for tests of retries, timeouts and failure mapping. Set them with
/// `ComfySim.setFaults(_:)` in process or `POST /sim/faults` with the JSON keys below.
public struct SimFaults: Sendable, Equatable {
    /// Added before every answer (`latency_ms`).
    public var latency: Duration = .zero
    /// Every route answers 500 with a text body, like a crashed server behind a proxy (`http_500`).
    public var http500 = false
    /// Every request waits an hour before answering, so clients hit their timeouts (`hang`).
    public var hang = false
    /// JSON routes answer a body that is not JSON (`malformed_json`).
    public var malformedJSON = false
    /// Runs end with `execution_error` instead of success (`execution_error`).
    public var executionError = false
    /// Every HTTP request is answered by closing the connection (`drop_connections`).
    public var dropConnections = false
    /// `POST /prompt` queues the prompt, then waits this long before answering, as a busy ComfyUI can
    /// (`slow_prompt_answer_ms`): a client that times out has still queued it.
    public var slowPromptAnswer: Duration = .zero

    /// Faults as given; every one left out is off.
    public init(
        latency: Duration = .zero, http500: Bool = false, hang: Bool = false, malformedJSON: Bool = false,
        executionError: Bool = false,
        dropConnections: Bool = false, slowPromptAnswer: Duration = .zero
    ) {
        self.latency = latency
        self.http500 = http500
        self.hang = hang
        self.malformedJSON = malformedJSON
        self.executionError = executionError
        self.dropConnections = dropConnections
        self.slowPromptAnswer = slowPromptAnswer
    }

    /// Reads the control endpoint's body; keys left out are off.
    /// - Throws: a message naming the key when a value has the wrong type or a key is unknown.
    init(json object: [String: Any]) throws(SimFaultsError) {
        let switches: [String: WritableKeyPath<SimFaults, Bool>] = [
            "http_500": \.http500, "hang": \.hang, "malformed_json": \.malformedJSON,
            "execution_error": \.executionError,
            "drop_connections": \.dropConnections,
        ]
        for (key, value) in object {
            if key == "latency_ms" || key == "slow_prompt_answer_ms" {
                guard let ms = SimJSON.number(value), ms >= 0 else {
                    throw SimFaultsError(message: "\(key): expected a non-negative number of milliseconds")
                }
                if key == "latency_ms" {
                    latency = .milliseconds(Int64(ms))
                } else {
                    slowPromptAnswer = .milliseconds(Int64(ms))
                }
            } else if let path = switches[key] {
                guard let on = SimJSON.bool(value) else {
                    throw SimFaultsError(message: "\(key): expected true or false")
                }
                self[keyPath: path] = on
            } else {
                throw SimFaultsError(
                    message:
                        "unknown fault '\(key)' (latency_ms, slow_prompt_answer_ms, http_500, hang, malformed_json, execution_error, drop_connections)"
                )
            }
        }
    }
}

struct SimFaultsError: Error {
    var message: String
}
