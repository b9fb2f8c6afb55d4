import Foundation
import PromptGateCore

/// One attempt of one task on one backend, as a state machine: queue the patched workflow, follow it (the
/// backend's WebSocket for progress and early completion, `/history` as the source of truth, `/queue` to
/// notice a backend that forgot the prompt), then collect every output into the output folder.
struct TaskRun: Sendable {
    /// How an attempt ended.
    enum Outcome: Sendable, Equatable {
        /// The images were fetched.
        case completed([TaskImage])
        /// Final: the backend refused the workflow, the run raised, or it ran out of time.
        case failed(TaskReason)
        /// Worth another attempt, maybe on another backend.
        case retry(TaskReason)
        /// ComfyUI refused a model file the workflow or a preset needs (`value_not_in_list` on a file input):
        /// the backend lacks it, so it is marked ineligible (`problem`) and the task tries another backend.
        case backendLacks(TaskReason, problem: TaskReason)
        /// Cancelled by the caller (already recorded), or the dispatcher is shutting down.
        case abandoned
    }

    /// Whether the backend still holds a prompt `/history` knows nothing of.
    private enum Presence { case present, finished, lost, unknown }

    let settings: DispatchSettings
    let workflow: Workflow
    let binding: WorkflowBinding
    let store: any TaskStore
    let output: OutputFolder
    let client: ComfyUIClient
    /// The backend's WebSocket; nil: `/history` polling alone.
    let events: ComfyUIEvents?
    /// What the presets need from the backend: a refused file among these is the backend's fault.
    let requirements: BackendRequirements

    /// Runs the attempt to its end.
    /// - Parameters:
    ///   - task: the task as stored when it went `running`.
    ///   - promptID: this attempt's ComfyUI `prompt_id` (stored before it is sent).
    func run(_ task: GenerationTask, promptID: String) async -> Outcome {
        events?.watch(promptID)
        defer { events?.forget(promptID) }
        if let refused = await queue(task, promptID: promptID) { return refused }
        return await follow(task, promptID: promptID)
    }

    /// Follows an attempt that was sent before a restart, by its stored `prompt_id`, without sending it again:
    /// finished in `/history` → its outputs are collected (or its failure recorded); still queued or running on
    /// the backend → followed to its end; unknown to the backend → `.retry`, a new attempt. So a prompt that
    /// completed never runs twice.
    func resume(_ task: GenerationTask, promptID: String) async -> Outcome {
        events?.watch(promptID)
        defer { events?.forget(promptID) }
        return await follow(task, promptID: promptID)
    }

    /// `POST /prompt` with the patched workflow; nil when it was accepted.
    private func queue(_ task: GenerationTask, promptID: String) async -> Outcome? {
        let patched = WorkflowPatcher.apply(
            task.request, loras: task.loras, taskID: promptID, to: workflow, binding: binding)
        do {
            try await client.queue(patched, promptID: promptID)
            return nil
        } catch {
            switch error {
            case .rejected(_, _, let nodeErrors):
                if let missing = missingFiles(nodeErrors) {
                    return .backendLacks(
                        TaskReason(
                            code: "comfyui.missing_file",
                            message: "the backend lacks a model file the workflow needs: \(missing.message)",
                            details: nodeErrors),
                        problem: missing)
                }
                return .failed(error.reason)
            case .unavailable(let failure):
                // A timeout or a reset may come after ComfyUI queued the prompt: if it holds it, follow it rather
                // than run the work a second time; if it answers without it, make sure a late arrival cannot run
                // unowned (a backend that does not answer at all would not take the delete either).
                switch await presence(promptID) {
                case .present, .finished: return nil
                case .lost: await stopOnBackend(promptID)
                case .unknown: break
                }
                return .retry(failure.reason(doing: "could not queue the prompt"))
            }
        }
    }

    /// When every error in ComfyUI's `node_errors` is `value_not_in_list` on a file input with a value the
    /// backend was expected to have (the workflow's own literal, or a file a preset names), the backend's
    /// reason; nil when any error is the caller's (a LoRA file only the request named, a bad number).
    private func missingFiles(_ nodeErrors: JSONValue?) -> TaskReason? {
        guard case .object(let nodes)? = nodeErrors, !nodes.isEmpty else { return nil }
        var problems: [WorkflowValidator.Problem] = []
        for (id, entry) in nodes.sorted(by: { Workflow.idOrder($0.key, $1.key) }) {
            guard case .object(let fields) = entry, case .array(let errors)? = fields["errors"], !errors.isEmpty
            else { return nil }
            for error in errors {
                guard case .object(let item) = error, item["type"] == "value_not_in_list",
                    case .string(let details)? = item["details"],
                    let (input, value) = Self.refusedValue(details)
                else { return nil }
                let expected =
                    requirements.loraFiles.contains(value) || workflow.nodes[id]?.inputs[input] == .string(value)
                guard WorkflowValidator.isFile(input: input, value: value), expected else { return nil }
                let type = workflow.nodes[id]?.classType ?? "?"
                problems.append(
                    WorkflowValidator.Problem(
                        kind: .missingFile,
                        description:
                            "node \(id) (\(type)): \(input) '\(value)' is not on this server (ComfyUI refused it)"))
            }
        }
        return WorkflowValidator.reason(for: problems)
    }

    /// `"lora_name: 'x.safetensors' not in [...]"` → (`lora_name`, `x.safetensors`).
    static func refusedValue(_ details: String) -> (String, String)? {
        guard let colon = details.firstIndex(of: ":") else { return nil }
        let input = String(details[..<colon])
        let rest = details[details.index(after: colon)...].drop { $0 == " " }
        guard rest.first == "'", let end = rest.dropFirst().range(of: "' not in") else { return nil }
        return (input, String(rest.dropFirst()[..<end.lowerBound]))
    }

    /// Waits for the prompt to end: the first `/history` look is immediate (a cached or instant run is
    /// already done), then the interval backs off; the socket's end-of-run event wakes the wait early, and a
    /// successful run the socket saw whole is collected from its events without the history entry.
    private func follow(_ task: GenerationTask, promptID: String) async -> Outcome {
        let deadline = ContinuousClock.now + settings.generationTimeout
        var interval = Duration.zero
        var failures = 0
        var lastSeen = ContinuousClock.now
        while true {
            // A store that cannot be read now (a database restarting) is not a reason to stop the run: it is
            // looked at again next time.
            var stored: GenerationTask?
            var readable = true
            do { stored = try await store.find(id: task.id) } catch { readable = false }
            if readable {
                let status = stored?.status
                if status == .running, let mine = task.attemptList.last?.gateway,
                    stored?.attemptList.last?.gateway != mine
                {
                    // Another gateway took the run over (this one's lease lapsed): it follows the prompt now.
                    return .abandoned
                }
                if status != .running {
                    // A cancel has already stopped the prompt on the backend; anything else (the task vanished)
                    // has not.
                    if status != .cancelled { await stopOnBackend(promptID) }
                    return .abandoned
                }
            }
            if ContinuousClock.now >= deadline {
                await stopOnBackend(promptID)
                return .failed(
                    TaskReason(
                        code: "generation_timeout",
                        message:
                            "the run took longer than queue.generation_timeout (\(settings.generationTimeout)) and was interrupted"
                    ))
            }
            if interval > .zero {
                let wait = min(interval, deadline - ContinuousClock.now)
                if let events { await events.wait(for: promptID, upTo: wait) } else { try? await Task.sleep(for: wait) }
                if Task.isCancelled { return .abandoned }  // shutting down
                // The socket saw the whole successful run: its `executed` events name the files.
                if let seen = events?.result(promptID) { return await ended(seen, task: task) }
            }
            interval =
                interval == .zero
                ? settings.pollInterval.lowerBound : min(settings.pollInterval.upperBound, interval * 2)
            let history: ComfyUIHistory?
            do {
                history = try await client.history(promptID: promptID)
                failures = 0
            } catch {
                failures += 1
                // A few misses in a row: the backend is gone; stop waiting and try elsewhere.
                if failures >= 3, case .unavailable(let failure) = error {
                    return .retry(failure.reason(doing: "lost contact while the run was in progress"))
                }
                continue
            }
            guard let history else {
                // `/history` says `{}` both for "not yet" and "never heard of it" (a restarted server forgets
                // everything): every few seconds, make sure the server still holds the prompt.
                guard ContinuousClock.now - lastSeen >= settings.presenceInterval else { continue }
                switch await presence(promptID) {
                case .present: lastSeen = .now
                case .finished: interval = .zero  // look at the history again at once
                case .unknown: break  // the server did not answer; the failure count above handles that
                case .lost:
                    return .retry(
                        TaskReason(
                            code: "comfyui.lost",
                            message: "the backend no longer knows the prompt (restarted or cleared its queue)"))
                }
                continue
            }
            return await ended(history, task: task)
        }
    }

    /// What a finished history entry means for the task.
    private func ended(_ history: ComfyUIHistory, task: GenerationTask) async -> Outcome {
        switch history.outcome {
        case .success:
            return await collect(history, task: task)
        case .interrupted:
            if await store.task(id: task.id)?.status != .running { return .abandoned }
            return .failed(TaskReason(code: "comfyui.interrupted", message: "the run was interrupted on the backend"))
        case .error:
            var message = "the run failed on the backend"
            if case .object(let data)? = history.error {
                if case .string(let text)? = data["exception_message"] {
                    message = text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if case .string(let node)? = data["node_id"], case .string(let type)? = data["node_type"] {
                    message += " (node \(node), \(type))"
                }
            }
            return .failed(
                TaskReason(code: "comfyui.execution_error", message: message, details: history.error.map(Self.trimmed)))
        }
    }

    /// Whether the server still has the prompt: in its queue, or (a race with the end of the run) in its history.
    private func presence(_ promptID: String) async -> Presence {
        guard let queued = try? await client.queued() else { return .unknown }
        if queued.contains(promptID) { return .present }
        do {
            return try await client.history(promptID: promptID) == nil ? .lost : .finished
        } catch {
            return .unknown
        }
    }

    /// Fetches every output of the finished prompt (of `output_node` when it names some) into the output folder.
    private func collect(_ history: ComfyUIHistory, task: GenerationTask) async -> Outcome {
        let saved = history.outputs.filter { $0.type == "output" }
        let chosen = saved.filter {
            $0.node == settings.outputNode || workflow.nodes[$0.node]?.classType == settings.outputNode
        }
        let outputs = chosen.isEmpty ? saved : chosen
        guard !outputs.isEmpty else {
            return .failed(TaskReason(code: "comfyui.no_output", message: "the run finished without saving an image"))
        }
        var images: [TaskImage] = []
        for (index, item) in outputs.enumerated() {
            let name = OutputFolder.name(task: task.id, index: index, source: item.filename)
            do {
                let folder = output
                try await client.view(item) { bytes in try folder.write(bytes, name: name) }
            } catch {
                output.remove(images.map(\.file))
                guard case .unavailable(let failure) = error else {
                    return .retry(
                        TaskReason(code: "comfyui.bad_answer", message: "could not fetch output \(item.filename)"))
                }
                return .retry(failure.reason(doing: "could not fetch output \(item.filename)"))
            }
            images.append(
                TaskImage(
                    file: name, node: item.node, sourceFilename: item.filename, sourceSubfolder: item.subfolder,
                    seed: task.request.seed, index: index))
        }
        return .completed(images)
    }

    /// Removes a prompt from the backend's pending queue and interrupts it if it runs (best effort).
    func stopOnBackend(_ promptID: String) async {
        try? await client.deleteQueued(promptID: promptID)
        try? await client.interrupt(promptID: promptID)
    }

    /// ComfyUI's error data without the bulky parts (traceback, tensor reprs in current_inputs).
    static func trimmed(_ value: JSONValue) -> JSONValue {
        guard case .object(var object) = value else { return value }
        for key in ["traceback", "current_inputs", "current_outputs", "executed", "timestamp"] { object[key] = nil }
        return .object(object)
    }
}
