import Foundation

/// The workflows shipped in `workflows/`, embedded at build time so `promptgate serve` has one to bind with
/// no file at hand. A new file in `workflows/` must be listed here too; a test fails when the two disagree.
public enum BundledWorkflows {
    /// The bundled workflow files (API format), by file name.
    public static let files: [(name: String, data: Data)] = [
        ("nunchaku-flux.1-dev.api.json", Data(PackageResources.nunchaku_flux_1_dev_api_json)),
        ("sd15-lora-txt2img.api.json", Data(PackageResources.sd15_lora_txt2img_api_json)),
    ]

    /// Used when `workflow.path` is left at its default and no such file exists.
    public static let defaultName = "nunchaku-flux.1-dev.api.json"

    /// The bundled preset made for a workflow (by its file name): `sd15` for the SD 1.5 graph, `default` (the
    /// Nunchaku FLUX.1-dev preset) for anything else.
    public static func preset(for source: String) -> String {
        (source as NSString).lastPathComponent == "sd15-lora-txt2img.api.json" ? "sd15" : "default"
    }

    /// A bundled workflow by file name (with or without a folder in front).
    public static func named(_ path: String) -> (name: String, data: Data)? {
        let base = (path as NSString).lastPathComponent
        return files.first { $0.name == base }
    }
}
