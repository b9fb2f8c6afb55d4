extension LoRA {
    /// `name:weight` for trace notes.
    var summary: String { "\(name):\(Self.format(weight))" }

    /// At most three decimals, at least one ("1.0", "0.84", "1.125"); cheap, for trace notes.
    static func format(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e12 else { return "\(value)" }
        let thousandths = Int((abs(value) * 1000).rounded())
        var fraction = String(thousandths % 1000)
        while fraction.utf8.count < 3 { fraction = "0" + fraction }
        while fraction.utf8.count > 1 && fraction.hasSuffix("0") { fraction.removeLast() }
        return (value < 0 && thousandths > 0 ? "-" : "") + String(thousandths / 1000) + "." + fraction
    }
}
