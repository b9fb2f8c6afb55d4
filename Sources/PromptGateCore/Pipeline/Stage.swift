import Dispatch

/// One step of the pipeline, in the middleware shape: look at (or change) the context, then either call
/// `next` to pass it on, or return without calling it to stop the chain (after recording why in the
/// verdict). Code after `next` sees what the later stages did.
///
/// ```swift
/// struct Shout: Stage {
///     let name = "shout"
///     func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws {
///         context.request.prompt = context.request.prompt.uppercased()
///         try next(context)
///     }
/// }
/// ```
public protocol Stage: Sendable {
    /// Short stable name used in reasons, traces and configuration (`length`, `blocklist`).
    var name: String { get }
    func handle(_ context: PromptContext, next: (PromptContext) throws -> Void) throws
}

/// An ordered, immutable list of stages. Build it once (`PipelineBuilder`), share it between threads, and
/// run it once per request; hot reload builds a new pipeline and swaps the reference.
public struct Pipeline: Sendable {
    /// The stages, in the order they run.
    public let stages: [any Stage]

    /// A pipeline running `stages` in order.
    public init(stages: [any Stage]) { self.stages = stages }

    /// Runs the request through every stage until one stops it. The context holds the verdict and trace.
    public func run(_ context: PromptContext) throws {
        let first = context.trace.count
        defer { Self.settle(context, from: first) }
        try call(0, context)
    }

    /// Convenience: builds a context for `request`, runs it and returns the context.
    @discardableResult
    public func run(_ request: PromptRequest) throws -> PromptContext {
        let context = PromptContext(request: request)
        try run(context)
        return context
    }

    /// Two clock reads per stage: each entry first holds the stage's total time (itself and everything after
    /// it); `settle` subtracts the next stage's total once the run is over.
    private func call(_ index: Int, _ context: PromptContext) throws {
        guard index < stages.count else { return }
        let stage = stages[index]
        let slot = context.trace.count
        context.trace.append(TraceEntry(stage: stage.name, nanoseconds: 0, passed: false))
        context.currentTraceSlot = slot
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            context.trace[slot].nanoseconds = Int64(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds &- start)
            context.currentTraceSlot = nil
        }
        try stage.handle(context) { context in
            context.trace[slot].passed = true
            defer { context.currentTraceSlot = slot }
            try call(index + 1, context)
        }
    }

    /// Turns totals into each stage's own time.
    private static func settle(_ context: PromptContext, from first: Int) {
        var index = first
        while index < context.trace.count {
            if context.trace[index].passed, index + 1 < context.trace.count {
                context.trace[index].nanoseconds = max(
                    0, context.trace[index].nanoseconds - context.trace[index + 1].nanoseconds)
            }
            index += 1
        }
    }
}
