/// The default rule packs, embedded in the binary at build time from `rules/*.yaml` (SwiftPM
/// `embedInCode`), so `promptgate filter` works from any folder without the source tree.
///
/// A new pack in `rules/` must be added to `packs` below; a test fails when the two disagree.
public enum BundledRules {
    /// (name, YAML text) of each bundled pack, sorted by name.
    public static let packs: [(name: String, text: String)] = [
        ("en-hate.yaml", PackageResources.en_hate_yaml),
        ("en-self-harm.yaml", PackageResources.en_self_harm_yaml),
        ("en-sexual.yaml", PackageResources.en_sexual_yaml),
        ("en-violence.yaml", PackageResources.en_violence_yaml),
        ("en-weapons.yaml", PackageResources.en_weapons_yaml),
        ("zh-hate.yaml", PackageResources.zh_hate_yaml),
        ("zh-self-harm.yaml", PackageResources.zh_self_harm_yaml),
        ("zh-sexual.yaml", PackageResources.zh_sexual_yaml),
        ("zh-violence.yaml", PackageResources.zh_violence_yaml),
        ("zh-weapons.yaml", PackageResources.zh_weapons_yaml),
    ].map { name, bytes in ("<bundled>/rules/" + name, String(decoding: bytes, as: UTF8.self)) }

    /// The parsed bundled packs.
    public static func definitions() throws(RuleLoadError) -> [RuleDefinition] {
        try RulePackLoader.parse(sources: packs)
    }
}
