import Foundation
import PromptGateCore

/// A ComfyUI workflow in API format (what "Save (API Format)" exports): node id → `{class_type, inputs}`,
/// where an input is a literal or a link `["<node id>", <output index>]`.
public struct Workflow: Sendable, Equatable {
    /// One node of the graph.
    public struct Node: Sendable, Equatable {
        /// ComfyUI's node class (`KSampler`, `LoraLoader`, ...).
        public var classType: String
        /// Inputs as JSON (links are 2-element arrays, see `link(_:)`).
        public var inputs: [String: JSONValue]
        /// Everything else the node carried (`_meta`), kept as is.
        public var extra: [String: JSONValue]
    }

    /// The nodes by id.
    public var nodes: [String: Node]

    /// Parses an API-format workflow.
    /// - Throws: `WorkflowError` for a UI-format file (export with "Save (API Format)"), a node without
    ///   `class_type`, or anything that is not a JSON object of nodes.
    public init(json data: Data, file: String = "workflow") throws(WorkflowError) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let object) = value else {
            throw WorkflowError(code: "workflow.invalid", message: "\(file) is not a JSON object")
        }
        if object["nodes"] != nil && object["links"] != nil {
            throw WorkflowError(
                code: "workflow.ui_format",
                message:
                    "\(file) is a ComfyUI UI-format workflow; export it with \"Save (API Format)\" (enable the dev mode options in ComfyUI's settings)"
            )
        }
        var nodes: [String: Node] = [:]
        for (id, entry) in object {
            guard case .object(var fields) = entry else {
                throw WorkflowError(code: "workflow.invalid", message: "\(file): node \(id) is not an object")
            }
            guard case .string(let classType)? = fields.removeValue(forKey: "class_type") else {
                throw WorkflowError(code: "workflow.invalid", message: "\(file): node \(id) has no class_type")
            }
            var inputs: [String: JSONValue] = [:]
            if case .object(let given)? = fields.removeValue(forKey: "inputs") { inputs = given }
            nodes[id] = Node(classType: classType, inputs: inputs, extra: fields)
        }
        guard !nodes.isEmpty else { throw WorkflowError(code: "workflow.invalid", message: "\(file) holds no nodes") }
        self.nodes = nodes
    }

    /// Reads and parses a file.
    public init(path: String) throws(WorkflowError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkflowError(code: "workflow.unreadable", message: "cannot read workflow \(path)")
        }
        try self.init(json: data, file: path)
    }

    /// The node a link input points at, or nil when the input is a literal or missing.
    public func link(_ node: String, _ input: String) -> (node: String, output: Int)? {
        guard case .array(let pair)? = nodes[node]?.inputs[input], pair.count == 2,
            case .string(let source) = pair[0], case .number(let index) = pair[1], nodes[source] != nil
        else { return nil }
        return (source, Int(index))
    }

    /// Node ids of a class, sorted numerically where possible (stable reports).
    public func nodes(of classType: String) -> [String] {
        nodes.filter { $0.value.classType == classType }.map(\.key).sorted(by: Self.idOrder)
    }

    static func idOrder(_ a: String, _ b: String) -> Bool {
        if let x = Int(a), let y = Int(b) { return x < y }
        return a < b
    }

    /// The API-format JSON ComfyUI's `POST /prompt` takes.
    public var json: JSONValue {
        .object(
            nodes.mapValues { node in
                var object = node.extra
                object["class_type"] = .string(node.classType)
                object["inputs"] = .object(node.inputs)
                return .object(object)
            })
    }
}

/// A workflow that cannot be used, with a stable code.
public struct WorkflowError: PromptGateError, Equatable {
    /// Stable code (`workflow.invalid`, ...).
    public var code: String
    /// A sentence naming the file and node.
    public var message: String
    /// A broken workflow is the operator's to fix: internal to callers.
    public var kind: ErrorKind { .internal }
}
