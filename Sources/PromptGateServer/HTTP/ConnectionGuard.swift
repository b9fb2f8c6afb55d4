import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// What a connection may cost the server: how many may be open, how long one may sit idle, how long a request
/// may take to arrive, how large its body may be. From `server.*`; `ServiceConfig.Server` holds the defaults.
struct ConnectionLimits: Sendable {
    var maxConnections: Int
    var idleTimeout: Duration
    var requestTimeout: Duration
    var maxBodyBytes: Int
}

/// The open connections, counted across event loops.
final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)

    /// Counts one more; returns the new count.
    func opened() -> Int { open.add(1, ordering: .relaxed).newValue }

    /// Counts one less; returns the new count.
    func closed() -> Int { open.subtract(1, ordering: .relaxed).newValue }

    var current: Int { open.load(ordering: .relaxed) }
}

/// Hummingbird's HTTP/1 channel with the connection guard in front: a `WireGuard` first in the pipeline (raw
/// bytes) and an `ExchangeGuard` after HTTP decoding. Together they cap open connections, give a request
/// `requestTimeout` from its first byte to its last, answer `Expect: 100-continue`, turn parser errors into
/// the JSON envelope, and close the connection after every answer they write themselves and after a 413.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let count: ConnectionCount
    let metrics: GateMetrics
    let logger: Logger

    init(
        responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, count: ConnectionCount,
        metrics: GateMetrics, logger: Logger
    ) {
        let maxBodyBytes = limits.maxBodyBytes
        http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [ExchangeGuard(maxBodyBytes: maxBodyBytes)],
                idleTimeout: TimeAmount(limits.idleTimeout)))
        self.limits = limits
        self.count = count
        self.metrics = metrics
        self.logger = logger
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let wire = WireGuard(limits: limits, count: count, metrics: metrics, logger: self.logger)
        do {
            try channel.pipeline.syncOperations.addHandler(wire, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// The raw-bytes end of the guard, first in the pipeline: counts the connection (closing it at once, with a
/// 503, over `maxConnections`), runs the request deadline, and writes the guard's own answers.
final class WireGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Whether a request is arriving. Answering is not part of it: a slow answer (a long wait, a stream) is
    /// not the client's doing, and the idle timeout covers the time between requests.
    enum Phase {
        /// No request is being read: the last one ended (or none began).
        case waiting
        /// A request is arriving (its first byte, or its head, was seen and its end was not); the deadline runs.
        case reading
        /// The guard answered and is closing.
        case closing
    }

    private let limits: ConnectionLimits
    private let count: ConnectionCount
    private let metrics: GateMetrics
    private let logger: Logger
    private var counted = false
    private var phase = Phase.waiting
    /// A response head has been written and its end has not.
    private(set) var responseInProgress = false
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits, count: ConnectionCount, metrics: GateMetrics, logger: Logger) {
        self.limits = limits
        self.count = count
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { admit(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if counted {
            counted = false
            metrics.connections(open: count.closed())
        }
        context.fireChannelInactive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        let open = count.opened()
        metrics.connections(open: open)
        if open > limits.maxConnections {
            reject(
                status: .serviceUnavailable, code: "server.busy",
                message:
                    "the server has \(limits.maxConnections) connections open (server.max_connections); retry shortly",
                headers: [("Retry-After", "1")])
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .closing: return  // answered already: the rest is not read
        case .waiting: startReading(context)
        case .reading: break
        }
        context.fireChannelRead(data)
    }

    /// The exchange guard saw a request head: if its bytes came in the same read as the end of the previous
    /// request, the deadline starts now.
    func requestStarted() {
        guard phase == .waiting, let context else { return }
        startReading(context)
    }

    private func startReading(_ context: ChannelHandlerContext) {
        phase = .reading
        deadline?.cancel()
        let seconds = limits.requestTimeout.components.seconds
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limits.requestTimeout)) {
            [weak self] in
            guard let self, self.phase == .reading else { return }
            self.reject(
                status: .requestTimeout, code: "http.request_timeout",
                message: "the request did not arrive whole within \(seconds) s (server.request_timeout)")
        }
    }

    /// The exchange guard saw the request's end: the deadline stops until the next request's first byte.
    func requestEnded() {
        guard phase == .reading else { return }
        deadline?.cancel()
        deadline = nil
        phase = .waiting
    }

    /// The exchange guard saw a response head go out.
    func responseStarted() { responseInProgress = true }

    /// The exchange guard saw a response end go out.
    func responseEnded() { responseInProgress = false }

    /// Answers with the error envelope (unless a handler's response is already on the wire) and closes.
    func reject(
        status: HTTPResponse.Status, code: String, message: String, headers: [(String, String)] = []
    ) {
        guard phase != .closing, let context else { return }
        phase = .closing
        deadline?.cancel()
        metrics.guardClosed(code: code)
        logger.info(
            "closing connection", metadata: ["code": "\(code)", "status": "\(status.code)", "peer": "\(peer(context))"])
        guard !responseInProgress else {
            context.close(promise: nil)
            return
        }
        let body = ErrorEnvelope.body(code: code, message: message)
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body)
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in loopContext.value.close(promise: nil) }
    }

    /// The client closed its side in the middle of a request: counted as `client_closed`, then closed.
    func clientClosed() {
        guard phase != .closing, let context else { return }
        phase = .closing
        deadline?.cancel()
        metrics.guardClosed(code: "client_closed")
        context.close(promise: nil)
    }

    /// `HTTP/1.1 100 Continue`, written ahead of the handler's answer.
    func writeContinue() {
        guard let context, !responseInProgress, phase != .closing else { return }
        var buffer = context.channel.allocator.buffer(capacity: 25)
        buffer.writeString("HTTP/1.1 100 Continue\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress?.ipAddress ?? "?"
    }
}

/// The HTTP end of the guard, after decoding: reads request heads (100-continue, CONNECT), request ends (the
/// deadline stops), response heads and ends (a 413 closes the connection), and parser errors (the envelope,
/// then close). It tells its `WireGuard` what it saw.
final class ExchangeGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let maxBodyBytes: Int
    private var wire: WireGuard?
    private var closeAfterResponse = false

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func handlerAdded(context: ChannelHandlerContext) {
        wire = try? context.pipeline.syncOperations.handler(type: WireGuard.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            if let refusal = refusal(head) {
                wire?.reject(status: refusal.status, code: refusal.code, message: refusal.message)
                return
            }
            wire?.requestStarted()
            if head.headerFields[.expect] != nil { wire?.writeContinue() }
        case .body: break
        case .end: wire?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    /// Why a request head is answered by the guard itself, if it is.
    private func refusal(_ head: HTTPRequest) -> (status: HTTPResponse.Status, code: String, message: String)? {
        if head.method == .connect {
            return (.methodNotAllowed, "http.method_not_allowed", "CONNECT is not served: this is not a proxy")
        }
        guard let expect = head.headerFields[.expect] else { return nil }
        guard expect.lowercased() == "100-continue" else {
            return (.expectationFailed, "http.expectation_failed", "only 'Expect: 100-continue' is understood")
        }
        if let length = head.headerFields[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            return (
                .expectationFailed, "request.too_large",
                "the declared body of \(length) bytes is larger than the limit of \(maxBodyBytes) (server.max_body_bytes)"
            )
        }
        return nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            wire?.responseStarted()
            if head.status == .contentTooLarge {
                // The rest of an oversized body is not read: the connection cannot carry another request.
                closeAfterResponse = true
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            wire?.responseEnded()
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(data).whenComplete { result in
                promise?.completeWith(result)
                loopContext.value.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, let wire else {
            context.fireErrorCaught(error)
            return
        }
        switch parserError {
        case .invalidEOFState, .closedConnection:
            wire.clientClosed()  // the client went away mid-request: nobody to answer
        default:
            let (status, code, message) = Self.describe(parserError)
            wire.reject(status: status, code: code, message: message)
        }
    }

    /// The envelope for each parser error: a stable code, the right 4xx, a plain sentence.
    static func describe(_ error: HTTPParserError) -> (HTTPResponse.Status, String, String) {
        switch error {
        case .headerOverflow:
            (
                .requestHeaderFieldsTooLarge, "http.header_too_large",
                "the request's headers are too large or too many"
            )
        case .invalidContentLength, .unexpectedContentLength:
            (
                .badRequest, "http.bad_content_length",
                "Content-Length is not a number, appears twice with different values, or comes with chunked encoding"
            )
        case .invalidChunkSize:
            (.badRequest, "http.bad_chunk", "a chunk of the chunked body has a malformed size line")
        case .invalidMethod, .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment, .invalidVersion,
            .invalidHost, .invalidPort:
            (.badRequest, "http.bad_request_line", "the request line is not 'METHOD /path HTTP/1.1'")
        case .invalidHeaderToken, .invalidCharactersUsed, .lfExpected, .invalidConstant:
            (
                .badRequest, "http.bad_header",
                "a header is malformed (a control character, a folded line or a name with invalid characters)"
            )
        default:
            (
                .badRequest, "http.bad_request",
                "the request is not valid HTTP/1.1 (for example Content-Length together with chunked encoding)"
            )
        }
    }
}
