import ComfySim
import Foundation
import PromptGateAccess
import PromptGateCore
import PromptGateDispatch
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

/// A server whose backends are ComfySims on loopback.
func withGateway(
    _ sims: [ComfySim] = [ComfySim(runTime: .milliseconds(10))], configure: (inout ServiceConfig) -> Void = { _ in },
    _ body: (GateServer, URL, LoopbackSims) async throws -> Void
) async throws {
    try await LoopbackSims.with(sims) { running in
        var config = ServiceConfig()
        config.security.rateLimitEnabled = false
        config.dispatch.healthInterval = .milliseconds(50)
        config.dispatch.backends = running.urls.enumerated().map {
            BackendPool.Backend(name: "sim\($0.offset)", url: $0.element, maxInFlight: 2)
        }
        configure(&config)
        try await withServer(config) { server, base in
            let ready = await TestSupport.eventually {
                server.dispatch.dispatcher.pool.snapshot.allSatisfy { $0.state.label != "checking" }
            }
            #expect(ready)
            try await body(server, base, running)
        }
    }
}

/// Polls the task until it ends; returns the last answer.
func awaitTask(_ base: URL, _ id: String, headers: [String: String] = [:]) async throws -> HTTPResult {
    var last = try await send(base, "GET", "/api/v1/task/\(id)", headers: headers)
    _ = try await TestSupport.eventually {
        last = try await send(base, "GET", "/api/v1/task/\(id)", headers: headers)
        return !["queued", "running"].contains(last.json["status"] as? String ?? "")
    }
    return last
}

@Suite("Generate, task and output routes", .serialized)
struct GenerateTests {
    @Test func generateToImageRoundTrip() async throws {
        try await withGateway { server, base, sims in
            let accepted = try await send(
                base, "POST", "/api/v1/generate",
                body:
                    #"{"prompt": "portrait of a red fox", "seed": 42, "style": "anime", "loras": [{"name": "ghibsky", "weight": 1.0}], "priority": "high"}"#
            )
            #expect(accepted.status == 202)
            let id = try #require(accepted.json["task_id"] as? String)
            #expect(accepted.json["status"] as? String == "queued" && accepted.json["terminal"] as? Bool == false)
            #expect(accepted.json["estimated_time"] as? Int == 30)
            #expect(accepted.header("Location") == "/api/v1/task/\(id)")
            let done = try await awaitTask(base, id)
            #expect(done.json["status"] as? String == "completed" && done.json["terminal"] as? Bool == true)
            #expect(done.json["progress"] as? Double == 1)
            let result = try #require(done.json["result"] as? [String: Any])
            let images = try #require(result["images"] as? [[String: Any]])
            #expect(images.count == 1)
            let url = try #require(images.first?["url"] as? String)
            #expect(url == "\(base.absoluteString)/output/\(id)_0.png")
            #expect(images.first?["seed"] as? Int == 42 && images.first?["filename"] as? String == "\(id)_0.png")
            let metadata = try #require(result["metadata"] as? [String: Any])
            #expect((metadata["prompt"] as? String)?.hasPrefix("portrait of a red fox, anime style") == true)
            // The model is the bound graph's (its Nunchaku loader's model_path), not the preset's label.
            #expect(
                metadata["model"] as? String == "svdq-int4-flux.1-dev" && metadata["preset"] as? String == "default")
            #expect(
                metadata["steps"] as? Int == 20 && metadata["cfg_scale"] as? Double == 3.5
                    && metadata["sampler"] as? String == "euler")
            let lora = try #require((metadata["loras"] as? [[String: Any]])?.first)
            // portrait ×1.2
            #expect(lora["file"] as? String == "Ghibsky_Illustration.safetensors" && lora["weight"] as? Double == 1.2)
            #expect(lora["name"] as? String == "ghibsky" && lora["source"] as? String == "request")
            // The request's LoRA replaced the workflow's two; the files the graph loads are named.
            #expect((metadata["loras"] as? [[String: Any]])?.count == 1)
            #expect(
                metadata["unets"] as? [String] == ["svdq-int4-flux.1-dev"]
                    && metadata["vaes"] as? [String] == ["ae.safetensors"])
            #expect((metadata["backend"] as? String)?.hasPrefix("sim") == true)
            // The image itself, as ComfyUI made it.
            let image = try await send(base, "GET", "/output/\(id)_0.png")
            #expect(image.status == 200 && image.header("Content-Type") == "image/png")
            #expect(image.body == Data(ComfySim.png))
            // ComfyUI got the optimized prompt.
            let graph = try #require(sims.sims.compactMap { $0.receivedGraph(promptID: id) }.first)
            #expect("\(graph["6"] ?? .null)".contains("portrait of a red fox, anime style"))
            // Metrics and status saw it.
            let metrics = try await send(base, "GET", "/metrics").text
            #expect(metrics.contains(#"promptgate_tasks_ended_total{status="completed"} 1"#))
            #expect(metrics.contains(#"promptgate_backend_up{backend="sim0"} 1"#))
            #expect(
                metrics.contains("promptgate_tasks_wait_seconds_count 1")
                    && metrics.contains("promptgate_tasks_run_seconds_count 1"))
            #expect(metrics.contains(#"promptgate_queue_depth{priority="low"} 0"#))
            let status = try await send(base, "GET", "/status")
            let dispatch = try #require(status.json["dispatch"] as? [String: Any])
            #expect((dispatch["workflow"] as? String)?.hasSuffix("nunchaku-flux.1-dev.api.json") == true)
            #expect((dispatch["binding"] as? [String: [String]])?["width"] == ["27.width", "30.width"])
            let backends = try #require(dispatch["backends"] as? [[String: Any]])
            #expect(backends.map { $0["state"] as? String } == ["up"])
            #expect(server.dispatch.dispatcher.isListening(to: "sim0") != nil)
            let connected = await TestSupport.eventually {
                let backends =
                    ((try? await send(base, "GET", "/status"))?.json["dispatch"] as? [String: Any])?["backends"]
                    as? [[String: Any]]
                return backends?.first?["websocket"] as? String == "connected"
            }
            #expect(connected)
        }
    }

    @Test func blockedPromptIs422WithTheVerdictAndNothingIsQueued() async throws {
        try await withGateway(configure: { $0.security.rateLimitEnabled = true }) { server, base, sims in
            let blocked = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a bloody massacre in the street"}"#)
            #expect(blocked.status == 422 && blocked.errorCode == "policy.blocked")
            #expect(blocked.header("RateLimit")?.hasPrefix(#""default";r="#) == true)  // as on every answer
            let details = try #require((blocked.json["error"] as? [String: Any])?["details"] as? [String: Any])
            #expect(details["decision"] as? String == "block")
            let reason = try #require((details["reasons"] as? [[String: Any]])?.first)
            #expect(reason["rule"] as? String != nil || reason["rule_id"] as? String != nil)
            #expect(sims.sims[0].receivedOrder.isEmpty)
            #expect(server.dispatch.dispatcher.snapshot.queued.values.reduce(0, +) == 0)
            let invalid = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox", "priority": "urgent"}"#)
            #expect(invalid.status == 422 && invalid.errorCode == "request.invalid_value")
        }
    }

    /// Without LoRAs in the request the workflow's own loader runs: metadata says so, with file and strengths.
    @Test func metadataNamesTheLorasAndModelsTheGraphRan() async throws {
        try await withGateway(configure: { $0.dispatch.workflowPath = "sd15-lora-txt2img.api.json" }) { _, base, _ in
            let accepted = try await send(
                base, "POST", "/api/v1/generate", body: #"{"prompt": "a red fox", "seed": 7}"#)
            let id = try #require(accepted.json["task_id"] as? String)
            let done = try await awaitTask(base, id)
            let metadata = try #require((done.json["result"] as? [String: Any])?["metadata"] as? [String: Any])
            let loras = try #require(metadata["loras"] as? [[String: Any]])
            #expect(loras.count == 1)
            #expect(loras.first?["file"] as? String == "example_lora.safetensors" && loras.first?["name"] == nil)
            #expect(loras.first?["strength_model"] as? Double == 1 && loras.first?["strength_clip"] as? Double == 1)
            #expect(loras.first?["source"] as? String == "workflow" && loras.first?["node"] as? String == "10")
            #expect(metadata["checkpoints"] as? [String] == ["v1-5-pruned-emaonly.safetensors"])
            // One attempt, listed; no error on a completed task.
            let attempts = try #require(done.json["attempts"] as? [[String: Any]])
            #expect(done.json["attempt"] as? Int == 1 && attempts.count == 1 && done.json["error"] == nil)
            #expect(
                attempts.first?["outcome"] as? String == "completed" && attempts.first?["prompt_id"] as? String == id)
        }
    }

    /// With the SD 1.5 graph the SD 1.5 preset is the default, and the model facts come from the graph: classic
    /// CFG (cfg 7.5 is no FLUX warning), a bound negative prompt that is merged, not declared useless, and the
    /// checkpoint's name in the metadata. `presets.default` still decides when given.
    @Test func theSD15GraphGetsItsPresetAndItsOwnModelFacts() async throws {
        try await withGateway(configure: { $0.dispatch.workflowPath = "sd15-lora-txt2img.api.json" }) {
            server, base, _ in
            #expect(server.defaultPreset == "sd15")
            let status = try await send(base, "GET", "/status")
            #expect(status.json["default_preset"] as? String == "sd15")
            let model = try #require(status.json["model"] as? [String: Any])
            #expect(model["guidance"] as? String == "cfg" && model["negative_prompt"] as? Bool == true)
            let body = #"{"prompt": "a red fox", "negative_prompt": "cartoon", "cfg_scale": 7.5, "seed": 3}"#
            let moderated = try await send(base, "POST", "/api/v1/moderate", body: body)
            let request = try #require(moderated.json["request"] as? [String: Any])
            #expect(request["preset"] as? String == "sd15" && request["width"] as? Int == 512)
            #expect((request["negative_prompt"] as? String)?.hasPrefix("cartoon, lowres") == true)
            #expect((moderated.json["warnings"] as? [Any])?.isEmpty == true, "\(moderated.text)")
            let accepted = try await send(base, "POST", "/api/v1/generate", body: body)
            let done = try await awaitTask(base, try #require(accepted.json["task_id"] as? String))
            let metadata = try #require((done.json["result"] as? [String: Any])?["metadata"] as? [String: Any])
            #expect(metadata["model"] as? String == "v1-5-pruned-emaonly")
        }
        try await withGateway(configure: {
            $0.dispatch.workflowPath = "sd15-lora-txt2img.api.json"
            $0.defaultPreset = "default"
        }) { server, base, _ in
            #expect(server.defaultPreset == "default")
            // The FLUX preset on the SD graph: its label says flux, the graph says classic CFG, the graph wins.
            let moderated = try await send(
                base, "POST", "/api/v1/moderate",
                body: #"{"prompt": "a fox", "negative_prompt": "blurry", "cfg_scale": 7.5}"#)
            let codes = (moderated.json["warnings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            #expect(
                !codes.contains("negative_prompt.ignored") && !codes.contains("cfg_scale.flux_guidance"), "\(codes)")
        }
        // On the FLUX graph (BasicGuider, no negative input) the same request is warned about both.
        try await withGateway { server, base, _ in
            #expect(server.defaultPreset == "default" && server.model.guidance == .flux)
            let moderated = try await send(
                base, "POST", "/api/v1/moderate",
                body: #"{"prompt": "a fox", "negative_prompt": "blurry", "cfg_scale": 7.5}"#)
            let codes = (moderated.json["warnings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            #expect(codes.contains("negative_prompt.ignored") && codes.contains("cfg_scale.flux_guidance"), "\(codes)")
        }
    }

    /// Every backend lacks a node class the workflow needs: a new task is refused at once with each backend's
    /// reason, instead of waiting an hour to expire.
    @Test func workNoBackendCanRunIs503WithEachBackendsReason() async throws {
        var classes = ComfySim.defaultClasses
        classes.remove("NunchakuFluxDiTLoader")
        var models = ComfySim.defaultModels
        models["model_path"] = ["other-model"]
        try await withGateway([ComfySim(classes: classes), ComfySim(models: models)]) { _, base, _ in
            let status = try await send(base, "GET", "/status")
            let backends = try #require((status.json["dispatch"] as? [String: Any])?["backends"] as? [[String: Any]])
            #expect(backends.map { $0["state"] as? String } == ["ineligible", "ineligible"])
            #expect(backends.map { $0["code"] as? String } == ["backend.missing_nodes", "backend.missing_files"])
            #expect((backends[0]["reason"] as? String)?.contains("NunchakuFluxDiTLoader is not installed") == true)
            let refused = try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#)
            #expect(refused.status == 503 && refused.errorCode == "dispatch.no_eligible_backend")
            #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
            let details = try #require((refused.json["error"] as? [String: Any])?["details"] as? [[String: Any]])
            #expect(details.map { $0["backend"] as? String } == ["sim0", "sim1"])
            #expect((details[1]["message"] as? String)?.contains("model_path 'svdq-int4-flux.1-dev'") == true)
        }
    }

    @Test func queueFullIs429WithRetryAfter() async throws {
        let down = ComfySim()
        down.setFaults(SimFaults(http500: true))  // down: tasks queue (it may come back)
        try await withGateway([down], configure: { $0.dispatch.maxQueueSize = 1 }) { _, base, _ in
            let accepted = try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#)
            #expect(accepted.status == 202)
            // The queued task says why nothing runs it.
            let id = try #require(accepted.json["task_id"] as? String)
            let waiting = try #require(
                try await send(base, "GET", "/api/v1/task/\(id)").json["waiting_for"] as? [String: Any])
            #expect(waiting["code"] as? String == "dispatch.no_backend_available")
            #expect((waiting["message"] as? String)?.contains("sim0: down") == true)
            let full = try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#)
            #expect(full.status == 429 && full.errorCode == "queue_full")
            #expect(Int(full.header("Retry-After") ?? "") ?? 0 >= 1)
        }
    }

    @Test func cancelFailureAndUnknownTasks() async throws {
        let sim = ComfySim(runTime: .seconds(30))
        try await withGateway([sim]) { _, base, _ in
            let id = try #require(
                try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#).json["task_id"]
                    as? String)
            #expect(
                await TestSupport.eventually {
                    (try? await send(base, "GET", "/api/v1/task/\(id)").json["status"] as? String) == "running"
                })
            let running = try await send(base, "GET", "/api/v1/task/\(id)")
            #expect((running.json["progress"] as? Double ?? 1) < 1)
            #expect(running.json["terminal"] as? Bool == false)
            let cancelled = try await send(base, "DELETE", "/api/v1/task/\(id)")
            #expect(cancelled.status == 200 && cancelled.json["status"] as? String == "cancelled")
            // A poller that stops on `terminal` ends here; one waiting for completed/failed would spin.
            #expect(cancelled.json["terminal"] as? Bool == true)
            #expect(try await send(base, "GET", "/api/v1/task/\(id)").json["terminal"] as? Bool == true)
            #expect((cancelled.json["error"] as? [String: Any])?["code"] as? String == "cancelled")
            let again = try await send(base, "DELETE", "/api/v1/task/\(id)")
            #expect(again.status == 409 && again.errorCode == "task.finished")
            #expect(try await send(base, "GET", "/api/v1/task/no-such-task").errorCode == "task.not_found")
            #expect(try await send(base, "PATCH", "/api/v1/task/\(id)").status == 405)
        }
    }

    @Test func executionErrorCarriesComfyUIsMessage() async throws {
        let sim = ComfySim(runTime: .milliseconds(5))
        sim.setFaults(SimFaults(executionError: true))
        try await withGateway([sim]) { _, base, _ in
            let id = try #require(
                try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#).json["task_id"]
                    as? String)
            let failed = try await awaitTask(base, id)
            #expect(failed.json["status"] as? String == "failed")
            let error = try #require(failed.json["error"] as? [String: Any])
            #expect(error["code"] as? String == "comfyui.execution_error")
            #expect((error["message"] as? String)?.contains("CUDA out of memory") == true)
            #expect(failed.json["result"] == nil)
        }
    }

    @Test(arguments: ["..%2F..%2Fetc%2Fpasswd", "..", ".hidden.png", "a%2Fb.png", "x.png.exe.png", "missing.png"])
    func outputNamesOutsideTheFolderAre404(_ name: String) async throws {
        try await withGateway { _, base, _ in
            let answer = try await send(base, "GET", "/output/\(name)")
            #expect(answer.status == 404)
            #expect(answer.errorCode == "output.not_found" || answer.errorCode == "http.not_found")
        }
    }

    @Test func tasksBelongToTheKeyThatQueuedThem() async throws {
        try await withGateway(configure: { config in
            config.security.enabled = true
            config.security.apiKeys = [
                APIKey(name: "shop", secret: "shop-key-123456")!, APIKey(name: "other", secret: "other-key-123456")!,
                APIKey(name: "ops", secret: "ops-key-1234567", isAdmin: true)!,
            ]
        }) { _, base, _ in
            #expect(try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#).status == 401)
            let shop = ["Authorization": "Bearer shop-key-123456"]
            let id = try #require(
                try await send(base, "POST", "/api/v1/generate", body: #"{"prompt": "a fox"}"#, headers: shop).json[
                    "task_id"] as? String)
            #expect(try await awaitTask(base, id, headers: shop).json["status"] as? String == "completed")
            #expect(try await send(base, "GET", "/api/v1/task/\(id)").status == 401)
            #expect(
                try await send(base, "GET", "/api/v1/task/\(id)", headers: ["X-API-Key": "other-key-123456"]).status
                    == 404)
            #expect(
                try await send(base, "GET", "/api/v1/task/\(id)", headers: ["X-API-Key": "ops-key-1234567"]).status
                    == 200)
            #expect(try await send(base, "GET", "/output/\(id)_0.png").status == 401)
            #expect(try await send(base, "GET", "/output/\(id)_0.png", headers: shop).status == 200)
            // Images follow their task's owner: another key gets 404, an admin key sees it.
            let other = try await send(
                base, "GET", "/output/\(id)_0.png", headers: ["X-API-Key": "other-key-123456"])
            #expect(other.status == 404 && other.errorCode == "output.not_found")
            #expect(
                try await send(base, "GET", "/output/\(id)_0.png", headers: ["X-API-Key": "ops-key-1234567"]).status
                    == 200)
        }
    }

    @Test func theOutputFolderServesRegularFilesOnlyAndFollowsNoLink() async throws {
        try await withGateway { server, base, _ in
            let folder = server.dispatch.dispatcher.output.path
            let secret = try TestSupport.temporaryDirectory().appendingPathComponent("secret.txt")
            try "not for you".write(to: secret, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(
                atPath: (folder as NSString).appendingPathComponent("link_0.png"), withDestinationPath: secret.path)
            try FileManager.default.createDirectory(
                atPath: (folder as NSString).appendingPathComponent("dir_0.png"), withIntermediateDirectories: true)
            try Data(ComfySim.png).write(
                to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("plain_0.png")))
            for name in ["link_0.png", "dir_0.png"] {
                let answer = try await send(base, "GET", "/output/\(name)")
                #expect(answer.status == 404 && answer.errorCode == "output.not_found", "\(name)")
                #expect(!answer.text.contains("not for you"))
            }
            #expect(try await send(base, "GET", "/output/plain_0.png").body == Data(ComfySim.png))
        }
    }
}
