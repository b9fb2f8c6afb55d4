/// The bundled presets, embedded at build time from `presets/*.yaml` like the rule packs.
/// A new file in `presets/` must be listed here too; a test fails when the two disagree.
public enum BundledPresets {
    /// The bundled preset files, by file name, compiled into the binary.
    public static let files: [(name: String, text: String)] = [
        ("default.yaml", PackageResources.default_yaml),
        ("electronics-brand.yaml", PackageResources.electronics_brand_yaml),
        ("fashion-shop.yaml", PackageResources.fashion_shop_yaml),
        ("sd15.yaml", PackageResources.sd15_yaml),
    ].map { name, bytes in ("<bundled>/presets/" + name, String(decoding: bytes, as: UTF8.self)) }
}
