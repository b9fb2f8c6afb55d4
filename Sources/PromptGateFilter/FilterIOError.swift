import PromptGateCore
/// Reading input or writing output failed.
public struct FilterIOError: PromptGateError {
    /// What failed, naming the stream.
    public var message: String
    /// Always `io.error`.
    public var code: String { "io.error" }
    /// Not the input's fault.
    public var kind: ErrorKind { .internal }
}
