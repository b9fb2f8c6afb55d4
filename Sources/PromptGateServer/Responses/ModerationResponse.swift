import HTTPTypes
import PromptGateCore

/// The body of `POST /api/v1/moderate`: the verdict with its reasons and warnings and, when the prompt is
/// let through, the optimized request that would be generated.
struct ModerationResponse: JSONResponse {
    var id: JSONValue?
    var decision: Decision
    var reasons: [Reason]
    var warnings: [Warning]
    var request: PromptRequest?
    var caller: String?
    var trace: [TraceEntry]?

    init(context: PromptContext, includeTrace: Bool) {
        id = context.request.id
        decision = context.verdict.decision
        reasons = context.verdict.reasons
        warnings = context.warnings
        request = context.verdict.isBlocked ? nil : context.request
        caller = context.caller.keyName
        trace = includeTrace ? context.trace : nil
    }
}
