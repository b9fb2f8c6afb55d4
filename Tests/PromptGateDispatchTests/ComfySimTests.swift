import ComfySim
import Foundation
import Hummingbird
import NIOPosix
import PromptGateCore
import PromptGateDispatch
import PromptGateTestSupport
import Testing

/// Runs ComfySim on 127.0.0.1 and an ephemeral port for `body`.
func withComfySim(_ sim: ComfySim = ComfySim(), _ body: (ComfyUIClient) async throws -> Void) async throws {
    try await withLoopbackComfyUI(sim.makeRouter()) { client, _ in try await body(client) }
}

@Suite("Client, binding and ComfySim end to end", .serialized)
struct ComfySimTests {
    func sdWorkflow() throws -> Workflow {
        try Workflow(path: TestSupport.packageRoot.appendingPathComponent("workflows/sd15-lora-txt2img.api.json").path)
    }

    func waitForHistory(_ client: ComfyUIClient, _ id: String) async throws -> ComfyUIHistory? {
        for _ in 0..<100 {
            if let history = try await client.history(promptID: id) { return history }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test func patchedWorkflowRunsAndEveryOutputIsFetched() async throws {
        try await withComfySim { client in
            let workflow = try sdWorkflow()
            #expect(WorkflowValidator.problems(workflow, objectInfo: try await client.objectInfo(), loraFiles: ["example_lora.safetensors"]).isEmpty)
            var request = PromptRequest(prompt: "a red fox")
            request.seed = 7
            let taskID = UUID().uuidString.lowercased()
            let patched = WorkflowPatcher.apply(
                request, loras: [.init(file: "example_lora.safetensors", weight: 0.7)], taskID: taskID, to: workflow,
                binding: try WorkflowBinding(inferringFrom: workflow))
            try await client.queue(patched, promptID: taskID)
            #expect(try await client.history(promptID: taskID) == nil)  // still running
            let history = try #require(try await waitForHistory(client, taskID))
            #expect(history.outcome == "execution_success")
            let output = try #require(history.outputs.first)
            #expect(output.subfolder == "promptgate" && output.filename == "\(taskID)_00001_.png")
            #expect(try await client.view(output) == ComfySim.png)
            _ = try await client.systemStats()
        }
    }

    @Test func missingModelIsAFinalRejectionWithNodeErrors() async throws {
        try await withComfySim(ComfySim(models: ["ckpt_name": ["other.safetensors"]])) { client in
            let workflow = try sdWorkflow()
            #expect(!WorkflowValidator.problems(workflow, objectInfo: try await client.objectInfo()).isEmpty)
            do {
                try await client.queue(workflow, promptID: "00000000-0000-4000-8000-000000000001")
                Issue.record("accepted a missing checkpoint")
            } catch let error as ComfyUIError {
                guard case .rejected(let type, _, let nodeErrors) = error, case .object(let nodes)? = nodeErrors else {
                    Issue.record("\(error)")
                    return
                }
                #expect(type == "prompt_outputs_failed_validation")
                #expect(nodes["4"] != nil)
            }
        }
    }

    @Test func interruptEndsARunAsInterrupted() async throws {
        try await withComfySim(ComfySim(runTime: .seconds(5))) { client in
            let id = UUID().uuidString.lowercased()
            try await client.queue(try sdWorkflow(), promptID: id)
            try await Task.sleep(for: .milliseconds(50))
            try await client.interrupt(promptID: id)
            let history = try #require(try await waitForHistory(client, id))
            #expect(history.outcome == "execution_interrupted")
            #expect(history.outputs.isEmpty)
        }
    }
}
