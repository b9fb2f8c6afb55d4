import PromptGateCore
import PromptGateDispatch

/// The OpenAPI 3.1 description of every route (`GET /openapi.json`): paths from the route table
/// (`Endpoint`), the request schema from `PromptRequest.Field`.
enum OpenAPIDocument {
    static let errorResponse: JSONValue = [
        "description": "Error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
    ]

    static func jsonResponse(_ description: String, _ schema: String) -> JSONValue {
        [
            "description": .string(description),
            "content": ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(schema)")]]],
        ]
    }

    /// The document, with the request schema narrowed to `preset`'s limits (the default preset).
    static func document(preset: Preset?) -> JSONValue {
        guard case .object(var root) = template, case .object(var components)? = root["components"],
            case .object(var schemas)? = components["schemas"]
        else { return template }
        schemas["GenerationRequest"] = PromptRequest.jsonSchema(
            loraReference: "#/components/schemas/LoRA", preset: preset, lengths: PolicyConfig().lengthLimits)
        components["schemas"] = .object(schemas)
        root["components"] = .object(components)
        return .object(root)
    }

    private static let template: JSONValue = [
        "openapi": "3.1.0",
        "info": [
            "title": "PromptGate", "version": .string(PromptGateVersion.current),
            "description": "Policy filters and prompt optimizers in front of a ComfyUI farm.",
        ],
        "components": [
            "securitySchemes": [
                "bearer": ["type": "http", "scheme": "bearer"],
                "apiKey": ["type": "apiKey", "in": "header", "name": "X-API-Key"],
            ],
            "schemas": [
                "LoRA": PromptRequest.loraSchema,
                "Span": [
                    "type": "object",
                    "properties": [
                        "scalars": ["$ref": "#/components/schemas/Offsets"],
                        "utf8": ["$ref": "#/components/schemas/Offsets"],
                    ],
                ],
                "Offsets": [
                    "type": "object", "properties": ["start": ["type": "integer"], "end": ["type": "integer"]],
                ],
                "Reason": [
                    "type": "object",
                    "properties": [
                        "stage": ["type": "string"], "rule_id": ["type": "string"], "category": ["type": "string"],
                        "severity": ["type": "string", "enum": ["low", "medium", "high"]],
                        "action": ["type": "string", "enum": ["block", "flag"]],
                        "field": ["type": "string", "enum": ["prompt", "negative_prompt"]],
                        "span": ["$ref": "#/components/schemas/Span"],
                        "view": ["type": "string", "enum": ["raw", "folded", "joined", "skeleton", "hans"]],
                        "matched": ["type": "string"], "normalized": ["type": "string"], "message": ["type": "string"],
                    ],
                ],
                "Warning": [
                    "type": "object", "properties": ["code": ["type": "string"], "message": ["type": "string"]],
                ],
                "ModerationResponse": [
                    "type": "object", "required": ["decision", "reasons", "warnings"],
                    "properties": [
                        "id": ["type": ["string", "number"]],
                        "decision": ["type": "string", "enum": ["allow", "flag", "block"]],
                        "reasons": ["type": "array", "items": ["$ref": "#/components/schemas/Reason"]],
                        "warnings": ["type": "array", "items": ["$ref": "#/components/schemas/Warning"]],
                        "request": ["$ref": "#/components/schemas/GenerationRequest"], "caller": ["type": "string"],
                        "trace": ["type": "array", "items": ["type": "object"]],
                    ],
                ],
                "Accepted": [
                    "type": "object", "required": ["task_id", "status", "terminal", "estimated_time"],
                    "properties": [
                        "task_id": ["type": "string", "format": "uuid"],
                        "status": ["type": "string", "enum": ["queued", "completed"]],
                        "terminal": [
                            "type": "boolean",
                            "description": "whether status is final (a result-cache hit is already completed)",
                        ],
                        "estimated_time": [
                            "type": "integer", "description": "seconds until the task is expected to finish",
                        ],
                        "position": ["type": "integer"],
                        "priority": ["type": "string", "enum": ["high", "normal", "low"]],
                        "warnings": ["type": "array", "items": ["$ref": "#/components/schemas/Warning"]],
                    ],
                ],
                "Task": [
                    "type": "object", "required": ["task_id", "status", "terminal"],
                    "properties": [
                        "task_id": ["type": "string"],
                        "status": [
                            "type": "string",
                            "enum": ["queued", "running", "completed", "failed", "cancelled", "expired"],
                        ],
                        "terminal": [
                            "type": "boolean",
                            "description":
                                "true once status is completed, failed, cancelled or expired: stop polling then",
                        ],
                        "priority": ["type": "string"], "position": ["type": "integer"],
                        "progress": [
                            "type": "number", "minimum": 0, "maximum": 1,
                            "description":
                                "the sampler's progress, or an estimate from the average run time; never decreases within an attempt",
                        ],
                        "waiting_for": [
                            "type": "object",
                            "description":
                                "queued only: why it is not running (dispatch.retry_delay, dispatch.no_backend_available, dispatch.no_eligible_backend)",
                            "properties": [
                                "code": ["type": "string"], "message": ["type": "string"], "details": [:],
                            ],
                        ],
                        "attempt": ["type": "integer", "description": "the current (or last) attempt's number"],
                        "attempts": [
                            "type": "array",
                            "items": [
                                "type": "object",
                                "properties": [
                                    "number": ["type": "integer"], "backend": ["type": "string"],
                                    "prompt_id": ["type": "string"],
                                    "started_at": ["type": "string", "format": "date-time"],
                                    "ended_at": ["type": "string", "format": "date-time"],
                                    "outcome": [
                                        "type": "string", "enum": ["completed", "failed", "cancelled", "retried"],
                                    ],
                                    "error": ["type": "object"],
                                    "gateway": [
                                        "type": "string",
                                        "description":
                                            "the gateway holding the attempt's lease (several gateways on one store)",
                                    ],
                                ],
                            ],
                        ],
                        "created_at": ["type": "string", "format": "date-time"],
                        "started_at": ["type": "string", "format": "date-time"],
                        "finished_at": ["type": "string", "format": "date-time"],
                        "result": [
                            "type": "object",
                            "properties": [
                                "images": [
                                    "type": "array",
                                    "items": [
                                        "type": "object",
                                        "properties": [
                                            "index": [
                                                "type": "integer", "description": "its place in the batch, from 0",
                                            ],
                                            "url": ["type": "string"], "seed": ["type": "integer"],
                                            "filename": ["type": "string"],
                                            "node": ["type": "string"],
                                            "b64": [
                                                "type": "string", "contentEncoding": "base64",
                                                "description": "response_format base64 only: the file's bytes",
                                            ],
                                        ],
                                    ],
                                ],
                                "inline_error": [
                                    "type": "object",
                                    "description":
                                        "response_format base64: why the images are not inline (response.inline_too_large)",
                                ],
                                "metadata": [
                                    "allOf": [
                                        ["$ref": "#/components/schemas/GenerationRequest"],
                                        [
                                            "type": "object",
                                            "properties": [
                                                "model": ["type": "string"], "backend": ["type": "string"],
                                                "checkpoints": ["type": "array", "items": ["type": "string"]],
                                                "unets": ["type": "array", "items": ["type": "string"]],
                                                "vaes": ["type": "array", "items": ["type": "string"]],
                                                "text_encoders": ["type": "array", "items": ["type": "string"]],
                                            ],
                                        ],
                                    ]
                                ],
                            ],
                        ],
                        "error": [
                            "type": "object",
                            "properties": [
                                "code": ["type": "string"], "message": ["type": "string"],
                                "details": ["type": "object"],
                            ],
                        ],
                        "cached": ["type": "boolean"],
                        "cached_from": ["type": "string", "description": "the task whose run made the images"],
                        "webhook_url": ["type": "string", "description": "where the task's end is announced"],
                        "webhooks": [
                            "type": "array", "description": "GET /task only: the messages about its end",
                            "items": ["$ref": "#/components/schemas/WebhookDelivery"],
                        ],
                    ],
                ],
                "WebhookDelivery": [
                    "type": "object", "required": ["id", "event", "url", "status", "attempts"],
                    "properties": [
                        "id": ["type": "string", "description": "the webhook-id header, the same on every attempt"],
                        "event": [
                            "type": "string",
                            "enum": ["task.completed", "task.failed", "task.cancelled", "task.expired"],
                        ],
                        "url": ["type": "string"],
                        "status": ["type": "string", "enum": ["pending", "delivered", "failed"]],
                        "next_attempt_at": ["type": "string", "format": "date-time"],
                        "attempts": [
                            "type": "array",
                            "items": [
                                "type": "object",
                                "properties": [
                                    "at": ["type": "string", "format": "date-time"],
                                    "status": ["type": "integer", "description": "the receiver's HTTP status"],
                                    "error": ["type": "object", "description": "why it did not count (no 2xx)"],
                                    "seconds": ["type": "number"],
                                ],
                            ],
                        ],
                    ],
                ],
                "WebhookMessage": [
                    "type": "object", "required": ["type", "timestamp", "data"],
                    "properties": [
                        "type": [
                            "type": "string",
                            "enum": ["task.completed", "task.failed", "task.cancelled", "task.expired"],
                        ],
                        "timestamp": ["type": "string", "format": "date-time", "description": "when the task ended"],
                        "data": ["$ref": "#/components/schemas/Task"],
                    ],
                ],
                "Error": [
                    "type": "object", "required": ["error"],
                    "properties": [
                        "error": [
                            "type": "object", "required": ["code", "message"],
                            "properties": [
                                "code": ["type": "string"], "message": ["type": "string"],
                                "details": ["type": "object"],
                            ],
                        ]
                    ],
                ],
            ],
        ],
        "paths": paths,
        // OpenAPI 3.1's outgoing calls: what a webhook receiver gets.
        "webhooks": [
            "taskEnded": [
                "post": [
                    "summary":
                        "A task ended (Standard Webhooks: verify webhook-signature over '<webhook-id>.<webhook-timestamp>.<body>' with the key's whsec_ secret; answer 2xx, or it is retried)",
                    "parameters": [
                        ["name": "webhook-id", "in": "header", "required": true, "schema": ["type": "string"]],
                        ["name": "webhook-timestamp", "in": "header", "required": true, "schema": ["type": "string"]],
                        ["name": "webhook-signature", "in": "header", "required": true, "schema": ["type": "string"]],
                    ],
                    "requestBody": [
                        "content": [
                            "application/json": ["schema": ["$ref": "#/components/schemas/WebhookMessage"]]
                        ]
                    ],
                    "responses": ["2XX": ["description": "delivered; anything else is retried"]],
                ]
            ]
        ],
    ]

    /// Every route of the route table, grouped by path.
    static var paths: JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for endpoint in Endpoint.allCases {
            var operation = operation(endpoint)
            operation["summary"] = .string(endpoint.summary)
            if let level = endpoint.group.access {
                operation["security"] =
                    level == .admin ? [["bearer": []], ["apiKey": []]] : [["bearer": []], ["apiKey": []], [:]]
            }
            paths[endpoint.path, default: [:]][endpoint.method.rawValue.lowercased()] = .object(operation)
            if endpoint.path.contains("{id}") {
                paths[endpoint.path]?["parameters"] = [
                    ["name": "id", "in": "path", "required": true, "schema": ["type": "string"]]
                ]
            }
        }
        return .object(paths.mapValues { .object($0) })
    }

    static let generationBody: JSONValue = [
        "required": true,
        "content": ["application/json": ["schema": ["$ref": "#/components/schemas/GenerationRequest"]]],
    ]

    /// What each endpoint takes and answers.
    static func operation(_ endpoint: Endpoint) -> [String: JSONValue] {
        switch endpoint {
        case .moderate:
            return [
                "parameters": [["name": "trace", "in": "query", "schema": ["type": "boolean"]]],
                "requestBody": generationBody,
                "responses": [
                    "200": jsonResponse(
                        "Verdict (a blocked prompt is a 200 with decision block)", "ModerationResponse"),
                    "400": errorResponse, "401": errorResponse, "403": errorResponse, "413": errorResponse,
                    "422": errorResponse,
                    "429": errorResponse,
                ],
            ]
        case .generate:
            return [
                "parameters": [
                    [
                        "name": "Idempotency-Key", "in": "header",
                        "description":
                            "Retries with the same key and body get the first answer for 24 h (Idempotent-Replayed: true)",
                        "schema": ["type": "string", "maxLength": 255],
                    ],
                    [
                        "name": "Prefer", "in": "header",
                        "description":
                            "wait=N (RFC 7240): hold the answer up to N seconds (cut to server.max_wait) for the task to end",
                        "schema": ["type": "string", "example": "wait=30"],
                    ],
                    [
                        "name": "wait", "in": "query",
                        "description": "Like Prefer: wait=N; wins over the header",
                        "schema": ["type": "integer", "minimum": 0],
                    ],
                ],
                "requestBody": generationBody,
                "responses": [
                    "200": jsonResponse(
                        "With a wait: the task ended in time (any terminal status); Preference-Applied: wait=N", "Task"),
                    "202": jsonResponse(
                        "Queued (or completed from the result cache: cached true); with a wait, the task had not ended",
                        "Accepted"),
                    "409": jsonResponse(
                        "A request with this Idempotency-Key is still being accepted (idempotency.in_progress)", "Error"
                    ),
                    "400": errorResponse, "401": errorResponse, "403": errorResponse, "413": errorResponse,
                    "422": jsonResponse(
                        "Invalid request, or blocked by policy (code policy.blocked, the verdict in details)", "Error"),
                    "429": jsonResponse(
                        "Rate limited, the queue is full (code queue_full) or the key has max_queued tasks waiting (quota.queued); see Retry-After",
                        "Error"),
                    "503": jsonResponse(
                        "No backend can run the workflow (dispatch.no_eligible_backend, each backend's reason in details)",
                        "Error"),
                ],
            ]
        case .listTasks:
            return [
                "parameters": [
                    [
                        "name": "status", "in": "query",
                        "schema": ["type": "string", "enum": .array(TaskStatus.allCases.map { .string($0.rawValue) })],
                    ],
                    ["name": "limit", "in": "query", "schema": ["type": "integer", "minimum": 1, "maximum": 200]],
                    ["name": "cursor", "in": "query", "schema": ["type": "string"]],
                ],
                "responses": [
                    "200": ["description": "{tasks: [Task], next_cursor}"], "401": errorResponse, "422": errorResponse,
                ],
            ]
        case .task:
            return [
                "responses": [
                    "200": jsonResponse("The task", "Task"), "401": errorResponse, "403": errorResponse,
                    "404": errorResponse,
                ]
            ]
        case .taskEvents:
            return [
                "parameters": [
                    [
                        "name": "Last-Event-ID", "in": "header",
                        "description": "Resume: the state with this id is not sent again",
                        "schema": ["type": "string"],
                    ]
                ],
                "responses": [
                    "200": [
                        "description":
                            "text/event-stream: events queued, running, then one of completed, failed, cancelled, expired (data: the Task), then the end",
                        "content": ["text/event-stream": ["schema": ["type": "string"]]],
                    ],
                    "204": ["description": "Last-Event-ID names the end the client already saw"],
                    "401": errorResponse, "403": errorResponse, "404": errorResponse,
                ],
            ]
        case .cancelTask:
            return [
                "responses": [
                    "200": jsonResponse("The cancelled task", "Task"), "401": errorResponse, "404": errorResponse,
                    "409": jsonResponse("The task has already ended", "Error"),
                ]
            ]
        case .output:
            return [
                "parameters": [["name": "file", "in": "path", "required": true, "schema": ["type": "string"]]],
                "responses": [
                    "200": ["description": "The file, content type from its extension"], "404": errorResponse,
                ],
            ]
        case .health: return ["responses": ["200": ["description": "Alive"]]]
        case .status: return ["responses": ["200": ["description": "Status"], "403": errorResponse]]
        case .metrics: return ["responses": ["200": ["description": "Prometheus text format"], "403": errorResponse]]
        case .openAPI: return ["responses": ["200": ["description": "OpenAPI 3.1"]]]
        case .reload:
            return [
                "responses": [
                    "200": ["description": "Reloaded"], "401": errorResponse, "403": errorResponse,
                    "422": errorResponse,
                ]
            ]
        }
    }
}
