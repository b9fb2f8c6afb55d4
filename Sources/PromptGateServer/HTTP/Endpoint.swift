import HTTPTypes
import Hummingbird
import PromptGateAccess

/// The route table, declared once: every route's method, path, the access it demands and its OpenAPI
/// summary. The route collections register their handlers by endpoint; 404 versus 405, the access log's
/// route label and the OpenAPI `paths` all derive from this list.
public enum Endpoint: String, CaseIterable, Sendable {
    case moderate, generate, listTasks, task, taskEvents, cancelTask, output, health, status, metrics, openAPI, reload

    /// The HTTP method.
    public var method: HTTPRequest.Method {
        switch self {
        case .moderate, .generate, .reload: .post
        case .cancelTask: .delete
        case .listTasks, .task, .taskEvents, .output, .health, .status, .metrics, .openAPI: .get
        }
    }

    /// The full path, with `{name}` parameters.
    public var path: String { group.prefix + relativePath }

    /// The route group it belongs to (one access middleware each).
    public var group: RouteGroup {
        switch self {
        case .moderate, .generate: .prompts
        case .listTasks: .taskList
        case .task, .taskEvents, .cancelTask: .tasks
        case .output: .outputs
        case .reload: .admin
        case .status: .operations
        case .metrics: .metrics
        case .health, .openAPI: .open
        }
    }

    /// The path inside its group.
    var relativePath: String {
        switch self {
        case .moderate: "/moderate"
        case .generate: "/generate"
        case .listTasks: "/tasks"
        case .task, .cancelTask: "/{id}"
        case .taskEvents: "/{id}/events"
        case .output: "/{file}"
        case .health: "/health"
        case .status: "/status"
        case .metrics: "/metrics"
        case .openAPI: "/openapi.json"
        case .reload: "/reload"
        }
    }

    /// One line for the OpenAPI document.
    var summary: String {
        switch self {
        case .moderate: "Judge a request and return the optimized request that would be generated"
        case .generate: "Judge, optimize and queue a generation"
        case .listTasks: "The caller's tasks (every task for admin keys), newest first, by status, with cursor paging"
        case .task: "Task status, queue position, progress, result images or error"
        case .taskEvents: "The task's changes as Server-Sent Events, until it ends (Last-Event-ID resumes)"
        case .cancelTask: "Cancel: a queued task leaves the queue, a running one is interrupted on its backend"
        case .output: "An image a task produced"
        case .health: "Liveness"
        case .status: "Version, uptime, rule and preset counts, configuration without secrets, dispatcher state"
        case .metrics: "Prometheus metrics"
        case .openAPI: "This document"
        case .reload: "Reload rules and presets (admin key)"
        }
    }

    /// Every path with the methods of its endpoints.
    static let methodsByPath: [String: [HTTPRequest.Method]] = Dictionary(
        grouping: allCases, by: \.path
    ).mapValues { $0.map(\.method) }

    /// The route label of a matched path (`context.endpointPath`), or `unmatched`, so arbitrary URLs cannot
    /// blow up a metric's cardinality.
    static func label(_ matched: String?) -> String {
        guard let matched, methodsByPath[matched] != nil else { return unmatched }
        return matched
    }

    /// The route label of a request no route matched.
    static let unmatched = "unmatched"

    /// The methods the route a path matches answers (for 405 and `Allow`; `{name}` matches one segment), `HEAD`
    /// wherever `GET` is; nil when no route matches.
    static func methods(for path: String) -> [HTTPRequest.Method]? {
        guard let route = route(for: path), let methods = methodsByPath[route] else { return nil }
        return methods.contains(.get) ? methods + [.head] : methods
    }

    /// The route template a path matches (`/api/v1/task/{id}` for `/api/v1/task/abc`), whatever the method;
    /// nil when none does. A wrong method (405) is counted under its route, not as unmatched.
    static func route(for path: String) -> String? {
        if methodsByPath[path] != nil { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for route in methodsByPath.keys where route.contains("{") {
            let pattern = route.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count else { continue }
            if zip(pattern, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return route }
        }
        return nil
    }
}

/// A set of routes under one prefix, behind one access level.
public enum RouteGroup: String, CaseIterable, Sendable {
    case prompts, taskList, tasks, outputs, admin, operations, metrics, open

    /// The path prefix.
    var prefix: String {
        switch self {
        case .prompts, .taskList: "/api/v1"
        case .tasks: "/api/v1/task"
        case .outputs: "/output"
        case .admin: "/admin"
        case .operations, .metrics, .open: ""
        }
    }

    /// What its access middleware demands; nil: no access check.
    var access: AccessControl.Level? {
        switch self {
        case .prompts: .submit
        case .taskList, .tasks, .outputs: .read
        case .admin: .admin
        case .operations: .operations
        case .metrics: .metrics
        case .open: nil
        }
    }
}

extension RouteCollection where Context == GateRequestContext {
    /// Registers `handler` for an endpoint of this collection's group (paths are relative to the group); a
    /// `GET` endpoint answers `HEAD` with the same handler (`HeadMiddleware` drops the body).
    @discardableResult
    func on<Output: ResponseGenerator>(
        _ endpoint: Endpoint,
        use handler: @escaping @Sendable (Request, GateRequestContext) async throws -> Output
    ) -> Self {
        let path = RouterPath(endpoint.relativePath)
        if endpoint.method == .get { on(path, method: .head, use: handler) }
        return on(path, method: endpoint.method, use: handler)
    }
}
