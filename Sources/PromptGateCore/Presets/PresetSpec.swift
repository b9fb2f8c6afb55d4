import Foundation

/// One preset file as written: every field optional, so a brand file can `extends: default` and override
/// only what differs. `PresetLoader` merges the chain and validates the result into a `Preset`.
struct PresetSpec {
    var file: String
    var name: String
    var extends: String?
    var description: String?
    var modelName: String?
    var guidance: ModelProfile.Guidance?
    var trueCFG: Double?
    var defaults: [String: YAMLCursor] = [:]
    var limits: [String: YAMLCursor] = [:]
    var optimizers: [String]?
    var qualityWords: [String]?
    var styles: [String: [String]] = [:]
    var defaultStyle: String??
    var negativePrompt: [String]?
    var availableLoras: [String: String]?
    /// `loras.add`: LoRAs added to the inherited `available` list (which `available` would replace).
    var addedLoras: [String: String]?
    var baseLoras: [LoRA]?
    var loraRules: [LoraRule]?
    var templates: [String: ProductTemplate] = [:]
    var rules: [RuleDefinition] = []
    var examples: [PresetExample] = []

    static let topKeys: Set<String> = [
        "name", "extends", "description", "model", "defaults", "limits", "optimizers", "quality_words", "styles",
        "default_style", "negative_prompt", "loras", "templates", "rules", "examples",
    ]

    /// Reads one file; problems name the file and key path.
    static func parse(_ text: String, file: String, defaultName: String, problems: inout [LoadProblem]) -> PresetSpec? {
        let root: YAMLCursor
        do {
            guard let parsed = try YAMLCursor.parse(text, file: file) else {
                problems.append(LoadProblem(file: file, keyPath: "", message: "empty file"))
                return nil
            }
            root = parsed
        } catch {
            problems.append(contentsOf: error.problems)
            return nil
        }
        guard let keys = root.mapping(allowed: topKeys, problems: &problems) else { return nil }
        var spec = PresetSpec(file: file, name: keys["name"]?.string(problems: &problems) ?? defaultName)
        spec.extends = keys["extends"]?.string(problems: &problems)
        spec.description = keys["description"]?.string(problems: &problems)
        if let model = keys["model"]?.mapping(allowed: ["name", "guidance", "true_cfg"], problems: &problems) {
            spec.modelName = model["name"]?.string(problems: &problems)
            if let cursor = model["guidance"], let text = cursor.string(problems: &problems) {
                spec.guidance = ModelProfile.Guidance(rawValue: text)
                if spec.guidance == nil { problems.append(cursor.problem("'\(text)' is not one of cfg | flux")) }
            }
            spec.trueCFG = model["true_cfg"]?.double(problems: &problems)
        }
        spec.defaults =
            keys["defaults"]?.mapping(
                allowed: ["width", "height", "steps", "cfg_scale", "sampler", "scheduler"], problems: &problems) ?? [:]
        spec.limits =
            keys["limits"]?.mapping(
                allowed: [
                    "width", "height", "multiple_of", "max_pixels", "steps", "cfg_scale", "lora_weight", "samplers",
                    "schedulers",
                ],
                problems: &problems) ?? [:]
        if let cursor = keys["optimizers"], let names = cursor.strings(problems: &problems) {
            for name in names where !Preset.optimizerNames.contains(name) {
                problems.append(
                    cursor.problem(
                        "unknown optimizer '\(name)' (known: \(Preset.optimizerNames.joined(separator: ", ")))"))
            }
            if Set(names).count != names.count { problems.append(cursor.problem("an optimizer is listed twice")) }
            spec.optimizers = names
        }
        spec.qualityWords = keys["quality_words"]?.strings(problems: &problems)
        if let styles = keys["styles"]?.mapping(allowed: nil, problems: &problems) {
            for (name, cursor) in styles { spec.styles[name] = cursor.strings(problems: &problems) ?? [] }
        }
        if let cursor = keys["default_style"] {
            if case .scalar(let scalar) = cursor.node,
                scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~"
            {
                spec.defaultStyle = .some(nil)
            } else {
                spec.defaultStyle = .some(cursor.string(problems: &problems))
            }
        }
        spec.negativePrompt = keys["negative_prompt"]?.strings(problems: &problems)
        if let loras = keys["loras"]?.mapping(allowed: ["available", "add", "base", "rules"], problems: &problems) {
            parseLoras(loras, into: &spec, problems: &problems)
        }
        if let templates = keys["templates"]?.mapping(allowed: nil, problems: &problems) {
            for (name, cursor) in templates {
                if let template = parseTemplate(cursor, problems: &problems) { spec.templates[name] = template }
            }
        }
        if let list = keys["rules"]?.sequence(problems: &problems) {
            spec.rules = list.compactMap { RulePackLoader.parseRule($0, file: file, problems: &problems) }
        }
        if let list = keys["examples"]?.sequence(problems: &problems) {
            for (index, item) in list.enumerated() {
                guard let example = item.mapping(allowed: ["name", "input", "expect"], problems: &problems) else {
                    continue
                }
                guard case .object(let input)? = example["input"]?.jsonValue else {
                    problems.append(item.problem("an example needs 'input', a mapping (the request)"))
                    continue
                }
                guard case .object(let expect)? = example["expect"]?.jsonValue else {
                    problems.append(
                        item.problem("an example needs 'expect', a mapping (fields of the optimized request)"))
                    continue
                }
                let name = example["name"]?.string(problems: &problems) ?? "example \(index + 1)"
                let unknown = expect.keys.filter { !PresetExample.expectable.contains($0) }.sorted()
                for key in unknown {
                    let known = PresetExample.expectable.sorted().joined(separator: ", ")
                    problems.append(
                        LoadProblem(
                            file: file, keyPath: "\(item.path).expect.\(key)",
                            message: "unknown field '\(key)': expect takes fields of the optimized request, "
                                + "decision, warnings or error (\(known))"))
                }
                guard unknown.isEmpty else { continue }
                spec.examples.append(PresetExample(name: name, input: input, expect: expect))
            }
        }
        return spec
    }

    private static func parseLoras(
        _ keys: [String: YAMLCursor], into spec: inout PresetSpec, problems: inout [LoadProblem]
    ) {
        spec.availableLoras = keys["available"].flatMap { loraFiles($0, problems: &problems) }
        spec.addedLoras = keys["add"].flatMap { loraFiles($0, problems: &problems) }
        if spec.availableLoras != nil, spec.addedLoras != nil, let add = keys["add"] {
            problems.append(
                add.problem("give 'available' (replaces the inherited list) or 'add' (extends it), not both"))
        }
        if let list = keys["base"]?.sequence(problems: &problems) {
            spec.baseLoras = list.compactMap { parseLora($0, problems: &problems) }
        }
        if let list = keys["rules"]?.sequence(problems: &problems) {
            var rules: [LoraRule] = []
            for item in list {
                guard
                    let rule = item.mapping(
                        allowed: ["keywords", "loras", "multiply", "add", "set"], problems: &problems)
                else { continue }
                guard let keywords = rule["keywords"]?.strings(problems: &problems), !keywords.isEmpty else {
                    problems.append(item.problem("a LoRA rule needs 'keywords'"))
                    continue
                }
                let operations: [LoraRule.Operation] = [
                    rule["multiply"]?.double(problems: &problems).map { .multiply($0) },
                    rule["add"]?.double(problems: &problems).map { .add($0) },
                    rule["set"]?.double(problems: &problems).map { .set($0) },
                ].compactMap { $0 }
                guard operations.count == 1 else {
                    problems.append(item.problem("a LoRA rule needs exactly one of 'multiply', 'add', 'set'"))
                    continue
                }
                let glob = rule["loras"]?.string(problems: &problems) ?? "*"
                rules.append(LoraRule(keywords: keywords, loras: glob, operation: operations[0]))
            }
            spec.loraRules = rules
        }
    }

    /// A list of LoRAs: alias → file (`{name, file}` entries, or a bare name that is its own file).
    private static func loraFiles(_ cursor: YAMLCursor, problems: inout [LoadProblem]) -> [String: String]? {
        guard let list = cursor.sequence(problems: &problems) else { return nil }
        var files: [String: String] = [:]
        for item in list {
            if case .scalar = item.node, let name = item.string(problems: &problems) {
                files[name] = name
            } else if let entry = item.mapping(allowed: ["name", "file"], problems: &problems),
                let name = entry["name"]?.string(problems: &problems)
            {
                files[name] = entry["file"]?.string(problems: &problems) ?? name
            } else {
                problems.append(item.problem("a LoRA needs a 'name'"))
            }
        }
        return files
    }

    /// The spec with `loras.add` folded into `available` (after inheritance has filled `available`).
    func foldingAddedLoras() -> PresetSpec {
        guard let addedLoras else { return self }
        var folded = self
        folded.availableLoras = (availableLoras ?? [:]).merging(addedLoras) { $1 }
        folded.addedLoras = nil
        return folded
    }

    private static func parseLora(_ cursor: YAMLCursor, problems: inout [LoadProblem]) -> LoRA? {
        guard let entry = cursor.mapping(allowed: ["name", "weight"], problems: &problems) else { return nil }
        guard let name = entry["name"]?.string(problems: &problems) else {
            problems.append(cursor.problem("a LoRA needs a 'name'"))
            return nil
        }
        let weight = entry["weight"]?.double(problems: &problems) ?? 1.0
        return LoRA(name: name, weight: weight)
    }

    private static func parseTemplate(_ cursor: YAMLCursor, problems: inout [LoadProblem]) -> ProductTemplate? {
        guard let keys = cursor.mapping(allowed: ["prompt", "lora", "aspect_ratio"], problems: &problems) else {
            return nil
        }
        guard let prompt = keys["prompt"]?.string(problems: &problems) else {
            problems.append(cursor.problem("a template needs 'prompt'"))
            return nil
        }
        if prompt.components(separatedBy: "{prompt}").count > 2 {
            problems.append(keys["prompt"]!.problem("'{prompt}' may appear at most once"))
        }
        var ratio: AspectRatio? = nil
        if let ratioCursor = keys["aspect_ratio"], let text = ratioCursor.string(problems: &problems) {
            ratio = AspectRatio(text)
            if ratio == nil { problems.append(ratioCursor.problem("'\(text)' is not an aspect ratio like 16:9")) }
        }
        let lora = keys["lora"].flatMap { parseLora($0, problems: &problems) }
        return ProductTemplate(prompt: prompt, lora: lora, aspectRatio: ratio)
    }
}
