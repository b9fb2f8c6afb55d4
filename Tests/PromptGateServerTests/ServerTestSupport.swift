import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Hummingbird
import Logging
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport

/// A response as the tests see it.
struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
}

/// Runs a live server on 127.0.0.1 and an ephemeral port for the duration of `body`, then stops it; `logger`
/// receives the server's log lines (the access log among them).
func withServer(
    _ config: ServiceConfig = ServiceConfig(), logger: Logger = Logger(label: "promptgate"),
    _ body: (GateServer, URL) async throws -> Void
) async throws {
    var config = config
    config.server.host = "127.0.0.1"
    config.server.port = 0
    let output = try TestSupport.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: output) }
    if config.dispatch.outputDirectory == DispatchSettings().outputDirectory {
        config.dispatch.outputDirectory = output.path
    }
    if config.dispatch.storePath == DispatchSettings().storePath { config.dispatch.storePath = ":memory:" }
    let server = try GateServer(config: config, logger: logger)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = server.makeApplication(onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        group.addTask { try await DispatchService(setup: server.dispatch).run() }
        group.addTask { try await WebhookSender(server: server, poll: .milliseconds(50)).run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        do {
            try await body(server, URL(string: "http://127.0.0.1:\(port)")!)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

/// One HTTP request with URLSession (no keep-alive assumptions, loopback only).
func send(_ base: URL, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:])
    async throws -> HTTPResult
{
    var request = URLRequest(url: URL(string: path, relativeTo: base)!)
    request.httpMethod = method
    if let body { request.httpBody = Data(body.utf8) }
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    var fields: [String: String] = [:]
    for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
    return HTTPResult(status: http.statusCode, headers: fields, body: data)
}
