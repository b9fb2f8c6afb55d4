import HTTPTypes
import Hummingbird
import PromptGateAccess
import PromptGateCore

/// Access for one route group: resolves the client address (the socket peer, or the right-most untrusted
/// `X-Forwarded-For` entry behind a trusted proxy), takes the presented key, asks `AccessControl` for the
/// caller and puts it in the context. Every answer of the group, errors included, carries the caller's
/// `RateLimit-Policy` and `RateLimit` fields (IETF draft-11) when a rate limit applied. With several gateways on
/// one PostgreSQL store, a submission is counted in the shared state too (`sharedLimits`).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = GateRequestContext
    let level: AccessControl.Level
    /// The current access rules (they reload with rules and presets).
    let holder: GateStateHolder
    let trustedProxies: CIDRSet
    let metrics: GateMetrics
    /// The rate-limit state the gateways share; nil: this process's limiter alone.
    let sharedLimits: (any SharedRateLimitState)?
    /// This gateway's batches taken from the shared state.
    let reservations: SharedRateLimitReservations

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        var caller: Caller
        do {
            let access = holder.current.access
            caller = try access.admit(
                address: try clientAddress(request, context: context), presentedKey: presentedKey(request),
                level: level, trace: &context.accessTrace)
            if level == .submit, let sharedLimits {
                let answered = try await access.countShared(
                    &caller, in: sharedLimits, reservations: reservations, trace: &context.accessTrace)
                if !answered { metrics.sharedRateLimitUnavailable() }
            }
        } catch {
            metrics.refusedRequest(code: error.code)
            return Self.withRateLimit(ErrorEnvelope.response(for: error, log: context.log), error.rateLimit)
        }
        context.caller = caller
        context.log.caller = caller.keyName
        do {
            return Self.withRateLimit(try await next(request, context), caller.rateLimit)
        } catch {
            return Self.withRateLimit(
                ErrorEnvelope.response(for: error, request: request, logger: context.logger, log: context.log),
                caller.rateLimit)
        }
    }

    /// Adds `RateLimit-Policy: "default";q=11;w=11` and `RateLimit: "default";r=10;t=1`.
    static func withRateLimit(_ response: Response, _ status: RateLimitStatus?) -> Response {
        guard let status else { return response }
        var response = response
        response.headers[.rateLimitPolicy] = "\"\(status.policy)\";q=\(status.quota);w=\(status.window)"
        response.headers[.rateLimit] = "\"\(status.policy)\";r=\(status.remaining);t=\(status.reset)"
        return response
    }

    /// The key from `Authorization: Bearer` or `X-API-Key`.
    func presentedKey(_ request: Request) -> String? {
        APIKeyStore.presentedKey(authorization: request.headers[.authorization], apiKeyHeader: request.headers[.apiKey])
    }

    /// The client address.
    /// - Throws: 400 `access.bad_forwarded_for` when the forwarded entry that would name the client does not
    ///   parse, with or without an allowlist (each forged entry would otherwise get a rate-limit bucket of its own).
    func clientAddress(_ request: Request, context: Context) throws(AccessError) -> String? {
        guard let peerText = context.remoteAddress?.ipAddress, let peer = IPAddress(peerText) else { return nil }
        guard !trustedProxies.isEmpty else { return peer.description }
        let forwarded = request.headers[values: .forwardedFor]
        switch ClientAddress.resolve(peer: peer, forwardedFor: forwarded, trustedProxies: trustedProxies) {
        case .client(let address): return address.description
        case .malformed(let entry):
            throw AccessError(
                code: "access.bad_forwarded_for", kind: .malformedInput,
                message: "X-Forwarded-For entry '\(entry)' is not an IP address")
        }
    }
}

extension HTTPField.Name {
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let rateLimit = Self("RateLimit")!
    static let apiKey = Self("X-API-Key")!
    static let forwardedFor = Self("X-Forwarded-For")!
}
