import PromptGateCore
/// Reading input or writing output failed.
public struct FilterIOError: PromptGateError {
    public var message: String
    public var code: String { "io.error" }
    public var kind: ErrorKind { .internal }
}
