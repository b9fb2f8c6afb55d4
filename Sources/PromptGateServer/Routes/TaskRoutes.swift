import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PromptGateCore
import PromptGateDispatch

/// `/api/v1/task/{id}` (read, cancel) and `/output/{file}` (the images). With API keys on, a task belongs
/// to the key that queued it (admin keys see every task); others get 404.
struct TaskRoutes {
    let server: GateServer

    var tasks: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.task) { request, context in try await task(request, context: context) }
            .on(.cancelTask) { request, context in try await cancel(request, context: context) }
    }

    var outputs: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.output) { _, context in try await outputFile(context: context) }
    }

    var dispatcher: Dispatcher { server.dispatch.dispatcher }

    func task(_ request: Request, context: GateRequestContext) async throws -> TaskResponse {
        let view = try await visibleView(context)
        return TaskResponse(view, imageBase: imageBase(request))
    }

    func cancel(_ request: Request, context: GateRequestContext) async throws -> TaskResponse {
        let id = try await visibleView(context).task.id
        try await dispatcher.cancel(id: id)
        guard let view = await dispatcher.view(id: id) else { throw DispatchError.notFound(id) }
        return TaskResponse(view, imageBase: imageBase(request))
    }

    /// An image from the output folder, under the same ownership rule as its task (with keys on, another
    /// key's image or one whose task is gone is 404; admin keys see all). Names outside the folder's alphabet
    /// are refused before any file system access, links are not followed, only regular files are served.
    func outputFile(context: GateRequestContext) async throws -> Response {
        let name = context.parameters.get("file") ?? ""
        if server.config.security.enabled, !context.caller.isAdmin {
            guard let id = OutputFolder.taskID(ofFile: name), let view = await dispatcher.view(id: id),
                visible(view.task, to: context.caller)
            else { throw OutputError(name: name) }
        }
        guard let data = dispatcher.output.contents(named: name) else { throw OutputError(name: name) }
        var headers = HTTPFields()
        headers[.contentType] = OutputFolder.contentType(for: name)
        headers[.cacheControl] = "private, max-age=86400, immutable"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func visibleView(_ context: GateRequestContext) async throws -> Dispatcher.TaskView {
        let id = context.parameters.get("id") ?? ""
        guard let view = await dispatcher.view(id: id), visible(view.task, to: context.caller) else {
            throw DispatchError.notFound(id)
        }
        return view
    }

    private func visible(_ task: GenerationTask, to caller: Caller) -> Bool {
        guard server.config.security.enabled, let owner = task.caller else { return true }
        return caller.keyName == owner || caller.isAdmin
    }

    /// `server.public_url`, or the scheme-less origin the client used (its Host header).
    private func imageBase(_ request: Request) -> String {
        if let base = server.config.server.publicURL { return base }
        if let host = request.head.authority { return "http://\(host)" }
        return ""
    }
}

/// An output file that does not exist (or a name that could not be one).
struct OutputError: PromptGateError {
    var name: String
    var code: String { "output.not_found" }
    var kind: ErrorKind { .notFound }
    var message: String { "no output file '\(name)'" }
}
