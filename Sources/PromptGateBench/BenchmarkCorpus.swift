/// A deterministic corpus of ~150-byte prompts: mostly ordinary English, some Chinese, some evasions,
/// a few percent that hit the default packs.
public enum BenchmarkCorpus {
    /// `count` prompts, the same for the same `seed`.
    public static func generate(count: Int, seed: UInt64 = 0x5EED) -> [String] {
        var rng = SeededGenerator(seed: seed)
        let subjects = [
            "a portrait of an old fisherman", "a red fox in a snowy forest", "a futuristic city skyline at night",
            "a bowl of ramen with steam rising", "a vintage car parked by the sea", "a girl reading under a tree",
            "an astronaut riding a horse", "a cozy cabin in the mountains", "a cyberpunk street market",
            "a watercolor of a lighthouse", "product photo of wireless earbuds", "a model wearing a linen dress",
        ]
        let details = [
            "golden hour lighting", "highly detailed", "cinematic composition", "soft bokeh background",
            "8k resolution", "trending on artstation", "dramatic clouds", "studio lighting", "shallow depth of field",
            "(masterpiece:1.2)", "[vivid colors]", "octane render", "35mm film grain", "ultra sharp focus",
        ]
        let chinese = ["一只可爱的小猫在窗台上晒太阳，高清，细节丰富", "夕阳下的古镇街道，水彩风格", "未来城市的夜景，赛博朋克风格，霓虹灯"]
        let hits = [
            "blood everywhere", "a nude figure", "m.u.r.d.e.r scene", "p0rn poster", "血腥的场面", "色 情 图片", "k i l l them",
        ]
        let tricks = ["\u{200B}", "\u{00AD}", "ｆｕｌｌ ｗｉｄｔｈ", "Сyrillic", "café\u{301}"]
        var corpus: [String] = []
        corpus.reserveCapacity(count)
        for _ in 0..<count {
            let roll = rng.next() % 100
            var prompt: String
            if roll < 15 {
                prompt =
                    chinese[Int(rng.next() % UInt64(chinese.count))] + "，"
                    + details[Int(rng.next() % UInt64(details.count))]
            } else {
                prompt = subjects[Int(rng.next() % UInt64(subjects.count))]
            }
            while prompt.utf8.count < 140 {
                prompt += ", " + details[Int(rng.next() % UInt64(details.count))]
            }
            if roll >= 95 { prompt += ", " + hits[Int(rng.next() % UInt64(hits.count))] }
            if roll >= 85 && roll < 95 { prompt += " " + tricks[Int(rng.next() % UInt64(tricks.count))] }
            corpus.append(prompt)
        }
        return corpus
    }
}

/// A small, fast, seedable generator (Vigna's SplitMix64), so generated corpora and test inputs are the
/// same on every run.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    /// A generator starting from `seed` (the same seed gives the same sequence).
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
