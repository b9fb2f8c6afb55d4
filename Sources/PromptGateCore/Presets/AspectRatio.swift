/// An aspect ratio such as 16:9, turned into a concrete size that fits a model's constraints.
public struct AspectRatio: Sendable, Equatable, CustomStringConvertible {
    /// The width part of the ratio.
    public var width: Int
    /// The height part of the ratio.
    public var height: Int

    /// Parses `W:H` with positive integers.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0].trimmingPrefix(while: \.isWhitespace)),
            let h = Int(parts[1].trimmingPrefix(while: \.isWhitespace)), w > 0, h > 0, w <= 100, h <= 100
        else { return nil }
        width = w
        height = h
    }

    /// `width:height`, as written in preset files.
    public var description: String { "\(width):\(height)" }

    /// The largest size with this ratio (as close as the grid allows) whose area is at most `area`, with both
    /// sides multiples of `multiple` and within the bounds.
    ///
    /// ```swift
    /// AspectRatio("16:9")!.size(area: 1024 * 1024, multiple: 16, width: 256...2048, height: 256...2048)
    /// // (1360, 768)
    /// ```
    public func size(area: Int, multiple: Int, width widthRange: ClosedRange<Int>, height heightRange: ClosedRange<Int>)
        -> (width: Int, height: Int)?
    {
        let ratio = Double(width) / Double(height)
        var best: (width: Int, height: Int, error: Double, area: Int)? = nil
        var h = multiple
        while h <= heightRange.upperBound {
            defer { h += multiple }
            guard heightRange.contains(h) else { continue }
            let ideal = Double(h) * ratio
            for candidate in [Int(ideal / Double(multiple)) * multiple, (Int(ideal / Double(multiple)) + 1) * multiple]
            {
                guard candidate > 0, widthRange.contains(candidate), candidate * h <= area else { continue }
                let error = abs(Double(candidate) / Double(h) - ratio) / ratio
                // Prefer ratios within 1 %, then the larger area; otherwise the closer ratio.
                let better: Bool
                if let best {
                    let bothClose = error <= 0.01 && best.error <= 0.01
                    better = bothClose ? candidate * h > best.area : error < best.error
                } else {
                    better = true
                }
                if better { best = (candidate, h, error, candidate * h) }
            }
        }
        return best.map { ($0.width, $0.height) }
    }
}
