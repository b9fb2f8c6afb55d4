import Foundation
import PromptGateTestSupport
import Testing

@testable import PromptGateServer

/// The connection guard against a live server on loopback, spoken to byte by byte: parser errors as the
/// envelope, the request deadline, the idle timeout, 100-continue, close after 413, the connection cap.
@Suite("Connection guard")
struct ConnectionGuardTests {
    /// A server whose request deadline and idle timeout are short, so the slow-client cases end quickly (the
    /// idle timeout longer, so a 408 is the request deadline's doing).
    static func quick(idle: Duration = .seconds(5)) -> ServiceConfig {
        var config = ServiceConfig()
        config.server.requestTimeout = .milliseconds(500)
        config.server.idleTimeout = idle
        return config
    }

    struct Malformed: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: String
        var status: Int
        var code: String
        var testDescription: String { name }
    }

    static let malformed: [Malformed] = [
        .init(name: "bad request line", bytes: "GARBAGE\r\n\r\n", status: 400, code: "http.bad_request_line"),
        .init(
            name: "header too large",
            bytes: "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 90_000))\r\n\r\n",
            status: 431, code: "http.header_too_large"),
        .init(
            name: "NUL in a header", bytes: "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n", status: 400,
            code: "http.bad_header"),
        .init(
            name: "obs-fold", bytes: "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n", status: 400,
            code: "http.bad_header"),
        .init(
            name: "bad Content-Length",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", status: 400,
            code: "http.bad_content_length"),
        .init(
            name: "Content-Length with chunked",
            bytes:
                "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            status: 400, code: "http.bad_request"),
        .init(
            name: "malformed chunk size",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
            status: 400, code: "http.bad_chunk"),
        .init(
            name: "CONNECT", bytes: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 405,
            code: "http.method_not_allowed"),
        .init(
            name: "unknown expectation",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 2\r\n\r\n{}",
            status: 417, code: "http.expectation_failed"),
    ]

    @Test(arguments: malformed)
    func parserErrorsAnswerTheEnvelopeAndClose(_ request: Malformed) async throws {
        try await withServer { server, base in
            let connection = try RawConnection(port: base.port!)
            connection.send(request.bytes)
            let (text, closed) = await connection.readUntilClosed()
            let response = try #require(RawResponse(text), "no response to \(request.name): \(text.prefix(200))")
            #expect(response.status == request.status)
            #expect(response.errorCode == request.code, "\(response.body)")
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.headers["connection"] == "close")
            #expect(closed)
        }
    }

    struct Slow: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: String
        var testDescription: String { name }
    }

    static let slow: [Slow] = [
        .init(name: "partial request line", bytes: "GET /hea"),
        .init(name: "headers that never end", bytes: "GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"),
        .init(
            name: "body shorter than Content-Length",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":"),
        .init(
            name: "endless chunked body",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n"),
        .init(
            name: "100-continue with the body withheld",
            bytes: "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 20\r\n\r\n"),
    ]

    @Test(arguments: slow)
    func aRequestThatDoesNotArriveInTimeGets408AndClose(_ request: Slow) async throws {
        try await withServer(Self.quick()) { server, base in
            let connection = try RawConnection(port: base.port!)
            connection.send(request.bytes)
            let (text, closed) = await connection.readUntilClosed()
            let response = try #require(RawResponse(text), "no response to \(request.name): \(text.prefix(200))")
            #expect(response.status == 408)
            #expect(response.errorCode == "http.request_timeout")
            #expect(closed)
        }
    }

    @Test func anIdleConnectionIsClosed() async throws {
        try await withServer(Self.quick(idle: .milliseconds(500))) { _, base in
            // Never a byte: closed after the idle timeout, without an answer.
            let silent = try RawConnection(port: base.port!)
            let (text, closed) = await silent.readUntilClosed()
            #expect(closed && text.isEmpty)
            // After a whole exchange on a kept-alive connection: closed once idle.
            let kept = try RawConnection(port: base.port!)
            kept.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let (answer, closedAfter) = await kept.readUntilClosed()
            #expect(RawResponse(answer)?.status == 200)
            #expect(closedAfter)
        }
    }

    @Test func keptAliveRequestsEachGetTheirOwnDeadline() async throws {
        try await withServer(Self.quick(idle: .milliseconds(500))) { _, base in
            let connection = try RawConnection(port: base.port!)
            let body = #"{"prompt":"a red fox"}"#
            let request =
                "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            connection.send(request + request)  // pipelined: the second starts while the first is answered
            let text = await connection.read(until: "\"decision\"")
            #expect(text.hasPrefix("HTTP/1.1 200"))
            let (all, closed) = await connection.readUntilClosed()
            #expect(all.components(separatedBy: "HTTP/1.1 200").count == 3)  // both answered, no 408
            #expect(!all.contains("HTTP/1.1 408"))  // (a random seed may hold the digits 408)
            #expect(closed)  // then idle
        }
    }

    @Test func aClientThatLeavesMidBodyIsCountedAs499NotAsAServerError() async throws {
        try await withServer { _, base in
            let connection = try RawConnection(port: base.port!)
            connection.send("POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
            connection.close()
            let counted = await TestSupport.eventually {
                let metrics = (try? await send(base, "GET", "/metrics").text) ?? ""
                return metrics.contains(#"route="/api/v1/moderate",status="499"} 1"#)
            }
            #expect(counted)
            let metrics = try await send(base, "GET", "/metrics").text
            #expect(!metrics.contains(#"status="500""#))
        }
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        try await withServer { _, base in
            let connection = try RawConnection(port: base.port!)
            let body = #"{"prompt":"a red fox"}"#
            connection.send(
                "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            )
            let interim = await connection.read(until: "\r\n\r\n")
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"))
            connection.send(body + "")
            let answer = await connection.read(until: "\"decision\"")
            #expect(RawResponse(answer)?.status == 200)
        }
    }

    @Test func aDeclaredBodyOverTheLimitGets417AndTheConnectionCloses() async throws {
        try await withServer { server, base in
            let connection = try RawConnection(port: base.port!)
            let length = server.config.server.maxBodyBytes + 1
            connection.send(
                "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(length)\r\n\r\n"
            )
            let (text, closed) = await connection.readUntilClosed()
            #expect(!text.contains("100 Continue"))
            let response = try #require(RawResponse(text))
            #expect(response.status == 417 && response.errorCode == "request.too_large")
            #expect(closed)
        }
    }

    @Test func after413TheConnectionIsClosed() async throws {
        try await withServer { server, base in
            let connection = try RawConnection(port: base.port!)
            let body = String(repeating: "a", count: server.config.server.maxBodyBytes + 10)
            connection.send(
                "POST /api/v1/moderate HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let (text, closed) = await connection.readUntilClosed()
            let response = try #require(RawResponse(text))
            #expect(response.status == 413 && response.errorCode == "request.too_large")
            #expect(response.headers["connection"] == "close")
            #expect(closed)
        }
    }

    @Test func connectionsOverTheCapGet503AndAreClosedAtOnce() async throws {
        var config = ServiceConfig()
        config.server.maxConnections = 4
        try await withServer(config) { server, base in
            let held = try (0..<4).map { _ in try RawConnection(port: base.port!) }
            // Every held connection is counted before the next is tried (the count is kept on the event loops).
            let counted = await TestSupport.eventually { server.openConnectionCount == 4 }
            #expect(counted)
            let over = try RawConnection(port: base.port!)
            let (text, closed) = await over.readUntilClosed()
            let response = try #require(RawResponse(text))
            #expect(response.status == 503 && response.errorCode == "server.busy")
            #expect(response.headers["retry-after"] == "1")
            #expect(closed)
            // The held ones still work, and closing one makes room.
            held[0].send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(RawResponse(await held[0].readUntilClosed().text)?.status == 200)
            held[0].close()  // the server half-closed; the connection is gone once the client closes too
            let freed = await TestSupport.eventually { server.openConnectionCount == 3 }
            #expect(freed)
            let next = try RawConnection(port: base.port!)
            next.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(RawResponse(await next.readUntilClosed().text)?.status == 200)
            next.close()
            _ = await TestSupport.eventually { server.openConnectionCount == 3 }
            let metrics = try await send(base, "GET", "/metrics").text
            #expect(metrics.contains(#"promptgate_http_guard_closes_total{code="server.busy"} 1"#))
            for connection in held { connection.close() }
        }
    }

    @Test(
        arguments: [
            (nil, 1024, 576, false), (nil, 256, 16, false), (nil, 1 << 20, 10_000, false), (100, 1024, 100, false),
            (5000, 1024, 768, true),
        ] as [(Int?, Int, Int, Bool)])
    func theConnectionCapFitsTheOpenFileLimit(configured: Int?, openFiles: Int, cap: Int, lowered: Bool) {
        let result = SystemLimits.connectionCap(configured: configured, openFiles: openFiles)
        #expect(result.cap == cap && result.lowered == lowered)
    }
}
