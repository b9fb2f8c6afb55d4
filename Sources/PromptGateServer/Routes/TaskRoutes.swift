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
            .on(.taskEvents) { request, context in try await events(request, context: context) }
            .on(.cancelTask) { request, context in try await cancel(request, context: context) }
    }

    var taskList: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.listTasks) { request, context in try await list(request, context: context) }
    }

    var outputs: RouteCollection<GateRequestContext> {
        RouteCollection(context: GateRequestContext.self)
            .on(.output) { _, context in try await outputFile(context: context) }
    }

    var dispatcher: Dispatcher { server.dispatch.dispatcher }

    func task(_ request: Request, context: GateRequestContext) async throws -> TaskResponse {
        let view = try await visibleView(context)
        var shown = TaskResponse(view, imageBase: imageBase(request), inline: await server.inline.load(view.task))
        if view.task.webhookURL != nil {
            shown.webhooks = await dispatcher.store.webhooks(of: view.task.id).map(TaskResponse.Webhook.init)
        }
        return shown
    }

    /// `GET /api/v1/task/{id}/events`: the task's changes as Server-Sent Events (`TaskEventStream`).
    func events(_ request: Request, context: GateRequestContext) async throws -> Response {
        let view = try await visibleView(context)
        let stream = TaskEventStream(
            dispatcher: dispatcher, id: view.task.id, imageBase: imageBase(request), inline: server.inline,
            heartbeat: server.config.server.eventHeartbeat,
            lastEventID: request.headers[TaskEventStream.lastEventIDHeader])
        return stream.response(from: view)
    }

    /// `GET /api/v1/tasks?status=&limit=&cursor=`: the caller's tasks (with keys on; admin keys and a service
    /// without keys see all), newest first; `next_cursor` continues the listing.
    func list(_ request: Request, context: GateRequestContext) async throws -> TaskListResponse {
        let query = request.uri.queryParameters
        var status: TaskStatus?
        if let text = query["status"] {
            guard let parsed = TaskStatus(rawValue: String(text)) else {
                let allowed = TaskStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw RequestError(
                    code: "request.invalid_value", field: "status", detail: "must be one of \(allowed), found '\(text)'"
                )
            }
            status = parsed
        }
        var limit = 50
        if let text = query["limit"] {
            guard let parsed = Int(String(text)), (1...200).contains(parsed) else {
                throw RequestError(
                    code: "request.invalid_value", field: "limit", detail: "must be an integer from 1 to 200")
            }
            limit = parsed
        }
        var cursor: TaskCursor?
        if let text = query["cursor"] {
            guard let parsed = TaskCursor(token: String(text)) else {
                throw RequestError(
                    code: "request.invalid_value", field: "cursor", detail: "is not a cursor this listing returned")
            }
            cursor = parsed
        }
        let caller = server.config.security.enabled && !context.caller.isAdmin ? context.caller.keyName : nil
        let tasks: [GenerationTask]
        do throws(TaskStoreError) {
            tasks = try await dispatcher.store.page(caller: caller, status: status, after: cursor, limit: limit)
        } catch {
            throw DispatchError.store(error)
        }
        let base = imageBase(request)
        return TaskListResponse(
            tasks: tasks.map { TaskResponse(dispatcher.view(of: $0), imageBase: base) },
            next_cursor: tasks.count == limit ? tasks.last.map { TaskCursor(after: $0).token } : nil)
    }

    func cancel(_ request: Request, context: GateRequestContext) async throws -> TaskResponse {
        let id = try await visibleView(context).task.id
        try await dispatcher.cancel(id: id)
        guard let view = await dispatcher.view(id: id) else { throw DispatchError.notFound(id) }
        return TaskResponse(view, imageBase: imageBase(request))
    }

    /// An image from the output folder, under the same ownership rule as its task (with keys on, another
    /// key's image or one whose task is gone is 404; admin keys see all). Names outside the folder's alphabet
    /// are refused before any file system access, links are not followed, only regular files are served. A file
    /// missing from the folder is fetched again from the backend that made it, while that backend has it.
    func outputFile(context: GateRequestContext) async throws -> Response {
        let name = context.parameters.get("file") ?? ""
        if server.config.security.enabled, !context.caller.isAdmin {
            // A cached result shares its files: any task using the file that the caller may see will do.
            guard OutputFolder.isValidName(name),
                await dispatcher.store.tasks(usingFile: name).contains(where: { visible($0, to: context.caller) })
            else { throw OutputError(name: name) }
        }
        var found = dispatcher.output.contents(named: name)
        if found == nil, OutputFolder.isValidName(name) { found = await dispatcher.refetch(name) }
        guard let data = found else { throw OutputError(name: name) }
        var headers = HTTPFields()
        headers[.contentType] = OutputFolder.contentType(for: name)
        headers[.cacheControl] = "private, max-age=86400, immutable"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func visibleView(_ context: GateRequestContext) async throws -> Dispatcher.TaskView {
        let id = context.parameters.get("id") ?? ""
        guard let view = try await dispatcher.lookup(id: id), visible(view.task, to: context.caller) else {
            throw DispatchError.notFound(id)
        }
        return view
    }

    private func visible(_ task: GenerationTask, to caller: Caller) -> Bool {
        guard server.config.security.enabled, let owner = task.caller else { return true }
        return caller.keyName == owner || caller.isAdmin
    }

    /// `server.public_url`, or the scheme-less origin the client used (its Host header).
    func imageBase(_ request: Request) -> String {
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
