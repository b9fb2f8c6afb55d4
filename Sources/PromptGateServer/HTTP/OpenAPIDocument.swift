import PromptGateCore

/// The OpenAPI 3.1 description of every route (`GET /openapi.json`). A test checks it lists exactly the
/// routes the router serves.
enum OpenAPIDocument {
    static let errorResponse: JSONValue = [
        "description": "Error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
    ]

    static func jsonResponse(_ description: String, _ schema: String) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": ["$ref": .string("#/components/schemas/\(schema)")]]]]
    }

    static let document: JSONValue = [
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
                "GenerationRequest": [
                    "type": "object", "required": ["prompt"],
                    "properties": [
                        "prompt": ["type": "string"], "negative_prompt": ["type": "string"], "id": ["type": ["string", "number"]],
                        "width": ["type": "integer"], "height": ["type": "integer"], "steps": ["type": "integer", "minimum": 1],
                        "cfg_scale": ["type": "number"], "seed": ["type": "integer", "minimum": 0, "maximum": 4_294_967_295],
                        "sampler": ["type": "string"], "scheduler": ["type": "string"],
                        "loras": ["type": "array", "items": ["$ref": "#/components/schemas/LoRA"]],
                        "style": ["type": "string"], "template": ["type": "string"], "preset": ["type": "string"],
                        "priority": ["type": "string", "enum": ["high", "normal", "low"]],
                    ],
                ],
                "LoRA": [
                    "type": "object", "required": ["name"],
                    "properties": ["name": ["type": "string"], "weight": ["type": "number"], "requested_weight": ["type": "number"]],
                ],
                "Span": [
                    "type": "object",
                    "properties": [
                        "scalars": ["$ref": "#/components/schemas/Offsets"], "utf8": ["$ref": "#/components/schemas/Offsets"],
                    ],
                ],
                "Offsets": ["type": "object", "properties": ["start": ["type": "integer"], "end": ["type": "integer"]]],
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
                "Warning": ["type": "object", "properties": ["code": ["type": "string"], "message": ["type": "string"]]],
                "ModerationResponse": [
                    "type": "object", "required": ["decision", "reasons", "warnings"],
                    "properties": [
                        "id": ["type": ["string", "number"]], "decision": ["type": "string", "enum": ["allow", "flag", "block"]],
                        "reasons": ["type": "array", "items": ["$ref": "#/components/schemas/Reason"]],
                        "warnings": ["type": "array", "items": ["$ref": "#/components/schemas/Warning"]],
                        "request": ["$ref": "#/components/schemas/GenerationRequest"], "caller": ["type": "string"],
                        "trace": ["type": "array", "items": ["type": "object"]],
                    ],
                ],
                "Accepted": [
                    "type": "object", "required": ["task_id", "status", "estimated_time"],
                    "properties": [
                        "task_id": ["type": "string", "format": "uuid"], "status": ["type": "string", "enum": ["queued"]],
                        "estimated_time": ["type": "integer", "description": "seconds until the task is expected to finish"],
                        "position": ["type": "integer"], "priority": ["type": "string", "enum": ["high", "normal", "low"]],
                        "warnings": ["type": "array", "items": ["$ref": "#/components/schemas/Warning"]],
                    ],
                ],
                "Task": [
                    "type": "object", "required": ["task_id", "status"],
                    "properties": [
                        "task_id": ["type": "string"],
                        "status": ["type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled", "expired"]],
                        "priority": ["type": "string"], "position": ["type": "integer"],
                        "progress": ["type": "number", "minimum": 0, "maximum": 1, "description": "estimated from the average run time while running"],
                        "attempts": ["type": "integer"], "created_at": ["type": "string", "format": "date-time"],
                        "started_at": ["type": "string", "format": "date-time"], "finished_at": ["type": "string", "format": "date-time"],
                        "result": [
                            "type": "object",
                            "properties": [
                                "images": [
                                    "type": "array",
                                    "items": [
                                        "type": "object",
                                        "properties": [
                                            "url": ["type": "string"], "seed": ["type": "integer"], "filename": ["type": "string"],
                                            "node": ["type": "string"],
                                        ],
                                    ],
                                ],
                                "metadata": ["type": "object"],
                            ],
                        ],
                        "error": [
                            "type": "object",
                            "properties": ["code": ["type": "string"], "message": ["type": "string"], "details": ["type": "object"]],
                        ],
                    ],
                ],
                "Error": [
                    "type": "object", "required": ["error"],
                    "properties": [
                        "error": [
                            "type": "object", "required": ["code", "message"],
                            "properties": ["code": ["type": "string"], "message": ["type": "string"], "details": ["type": "object"]],
                        ]
                    ],
                ],
            ],
        ],
        "paths": [
            "/api/v1/moderate": [
                "post": [
                    "summary": "Judge a request and return the optimized request that would be generated",
                    "security": [["bearer": []], ["apiKey": []], [:]],
                    "parameters": [["name": "trace", "in": "query", "schema": ["type": "boolean"]]],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/GenerationRequest"]]]],
                    "responses": [
                        "200": jsonResponse("Verdict (a blocked prompt is a 200 with decision block)", "ModerationResponse"),
                        "400": errorResponse, "401": errorResponse, "403": errorResponse, "413": errorResponse, "422": errorResponse,
                        "429": errorResponse,
                    ],
                ]
            ],
            "/api/v1/generate": [
                "post": [
                    "summary": "Judge, optimize and queue a generation",
                    "security": [["bearer": []], ["apiKey": []], [:]],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/GenerationRequest"]]]],
                    "responses": [
                        "202": jsonResponse("Queued", "Accepted"),
                        "400": errorResponse, "401": errorResponse, "403": errorResponse, "413": errorResponse,
                        "422": jsonResponse("Invalid request, or blocked by policy (code policy.blocked, the verdict in details)", "Error"),
                        "429": jsonResponse("Rate limited, or the queue is full (code queue_full); see Retry-After", "Error"),
                    ],
                ]
            ],
            "/api/v1/task/{id}": [
                "parameters": [["name": "id", "in": "path", "required": true, "schema": ["type": "string"]]],
                "get": [
                    "summary": "Task status, queue position, progress, result images or error",
                    "security": [["bearer": []], ["apiKey": []], [:]],
                    "responses": ["200": jsonResponse("The task", "Task"), "401": errorResponse, "403": errorResponse, "404": errorResponse],
                ],
                "delete": [
                    "summary": "Cancel: a queued task leaves the queue, a running one is interrupted on its backend",
                    "security": [["bearer": []], ["apiKey": []], [:]],
                    "responses": [
                        "200": jsonResponse("The cancelled task", "Task"), "401": errorResponse, "404": errorResponse,
                        "409": jsonResponse("The task has already ended", "Error"),
                    ],
                ],
            ],
            "/output/{file}": [
                "get": [
                    "summary": "An image a task produced",
                    "security": [["bearer": []], ["apiKey": []], [:]],
                    "parameters": [["name": "file", "in": "path", "required": true, "schema": ["type": "string"]]],
                    "responses": ["200": ["description": "The file, content type from its extension"], "404": errorResponse],
                ]
            ],
            "/health": ["get": ["summary": "Liveness", "responses": ["200": ["description": "Alive"]]]],
            "/status": ["get": ["summary": "Version, uptime, rule and preset counts, configuration without secrets", "responses": ["200": ["description": "Status"]]]],
            "/metrics": ["get": ["summary": "Prometheus metrics", "responses": ["200": ["description": "Prometheus text format"]]]],
            "/openapi.json": ["get": ["summary": "This document", "responses": ["200": ["description": "OpenAPI 3.1"]]]],
            "/admin/reload": [
                "post": [
                    "summary": "Reload rules and presets (admin key)", "security": [["bearer": []], ["apiKey": []]],
                    "responses": ["200": ["description": "Reloaded"], "401": errorResponse, "403": errorResponse, "422": errorResponse],
                ]
            ],
        ],
    ]
}
