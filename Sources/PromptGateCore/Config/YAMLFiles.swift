import Foundation

/// Reads YAML files named directly or found (non-recursively, sorted by name) in folders, for the rule pack
/// and preset loaders.
enum YAMLFiles {
    /// (file path, text) of every `.yaml`/`.yml` file in `paths`, plus a problem for each path that is
    /// missing or unreadable, or (when `emptyFolder` is given) a folder that holds none.
    static func read(_ paths: [String], emptyFolder: String? = nil) -> (
        sources: [(name: String, text: String)], problems: [LoadProblem]
    ) {
        var sources: [(name: String, text: String)] = []
        var problems: [LoadProblem] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append(LoadProblem(file: path, keyPath: "", message: "no such file or folder"))
                continue
            }
            var files = [path]
            if isDirectory.boolValue {
                files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                    .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                    .map { (path as NSString).appendingPathComponent($0) }
                if files.isEmpty, let emptyFolder {
                    problems.append(LoadProblem(file: path, keyPath: "", message: emptyFolder))
                }
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    problems.append(LoadProblem(file: file, keyPath: "", message: "cannot read file"))
                    continue
                }
                guard let text = String(validating: data, as: UTF8.self) else {
                    problems.append(LoadProblem(file: file, keyPath: "", message: "file is not valid UTF-8"))
                    continue
                }
                sources.append((file, text))
            }
        }
        return (sources, problems)
    }
}
