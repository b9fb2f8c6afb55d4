import Foundation
import PromptGateCore

/// A deterministic corpus shaped like a real prompt log: 100–300 bytes a prompt, about a third Chinese, about a
/// fifth carrying one blocklist term in disguise (spaced, dotted, leet digits and symbols, multi-character
/// look-alikes, stretched letters, Cyrillic and Greek confusables, full width, zero-width characters, stacked
/// combining marks, Traditional characters, separators between Han characters), and ordinary prompts holding
/// words a careless filter takes for terms (Scunthorpe, accented words of other languages).
public enum BenchmarkCorpus {
    /// The terms the disguised lines carry, which `smallPack` blocks: 11 terms in 3 rules, English and Chinese.
    public static let smallPackTerms: [(rule: String, terms: [String])] = [
        ("bench-sexual", ["porn", "nude", "naked"]),
        ("bench-violence", ["murder", "kill", "gore", "bloodbath"]),
        ("bench-zh", ["色情", "裸体", "血腥", "屠杀"]),
    ]

    /// `smallPackTerms` as a rule pack (YAML), for `promptgate filter --rules`.
    public static var smallPack: String {
        var yaml = "rules:\n"
        for (rule, terms) in smallPackTerms {
            yaml += "  - id: \(rule)\n    category: benchmark\n    action: block\n    terms: ["
            yaml += terms.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
        }
        return yaml
    }

    /// `count` prompts, the same for the same `seed`.
    public static func generate(count: Int, seed: UInt64 = 0x5EED) -> [String] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in prompt(&rng) }
    }

    /// `count` JSONL lines `{"id":"p-N","prompt":"…"}` (the prompts of `generate` with the same seed).
    public static func jsonLines(count: Int, seed: UInt64 = 0x5EED) -> [String] {
        generate(count: count, seed: seed).enumerated().map { index, prompt in
            var line = Array(#"{"id":"p-\#(index + 1)","prompt":"#.utf8)
            JSONWriter.appendString(prompt, to: &line)
            line.append(UInt8(ascii: "}"))
            return String(decoding: line, as: UTF8.self)
        }
    }

    // MARK: - Generation

    private static let subjects = [
        "a portrait of an old fisherman mending his nets", "a red fox in a snowy birch forest",
        "a futuristic city skyline at night with flying cars", "a bowl of ramen with steam rising",
        "a vintage car parked by the sea in Scunthorpe", "a girl reading under a cherry tree",
        "an astronaut riding a horse on the moon", "a cozy cabin in the mountains",
        "a cyberpunk street market in the rain", "a watercolor of a lighthouse on a cliff",
        "product photo of wireless earbuds on marble", "a model wearing a linen dress on a beach",
        "a skillful chef plating a dessert", "a pianist performing Mozart in a concert hall",
        "a medieval knight guarding the castle gate", "an elderly couple dancing in a café in Montréal",
    ]
    private static let details = [
        "golden hour lighting", "highly detailed", "cinematic composition", "soft bokeh background",
        "8k resolution", "trending on artstation", "dramatic clouds", "studio lighting", "shallow depth of field",
        "(masterpiece:1.2)", "[vivid colors]", "octane render", "35mm film grain", "ultra sharp focus",
        "<lora:product_style:0.8>", "by Greg Rutkowski", "crème brûlée tones", "naïve art style",
        "Straße at dusk", "wide angle lens", "photorealistic, intricate",
    ]
    private static let chineseSubjects = [
        "一只可爱的小猫在窗台上晒太阳", "夕阳下的古镇街道，小桥流水", "未来城市的夜景，赛博朋克风格，霓虹灯闪烁",
        "一位穿着汉服的少女站在樱花树下", "雪山脚下的湖泊倒映着星空", "热气腾腾的火锅和新鲜的蔬菜",
        "白色背景上的无线耳机产品图", "传统水墨画风格的山水和飞鸟", "繁華的夜市，燈籠高掛",
    ]
    private static let chineseDetails = [
        "高清", "细节丰富", "电影感构图", "柔和的光线", "水彩风格", "8k分辨率", "大师作品", "写实摄影", "景深效果",
        "油画质感", "暖色调",
    ]
    /// Latin look-alikes: Cyrillic, Greek and letter-like symbols for the letters the terms use.
    private static let lookAlikes: [Character: [String]] = [
        "a": ["а", "α", "@", "4", "/\\"], "e": ["е", "3", "€", "ε"], "o": ["о", "0", "ο", "()"],
        "p": ["р", "ρ"], "i": ["і", "1", "!", "ı"], "k": ["к", "κ", "|<"], "m": ["м", "|\\/|"],
        "n": ["п", "η"], "r": ["г"], "d": ["ԁ"], "u": ["υ", "μ"], "l": ["1", "|", "ӏ"], "g": ["9", "ɡ"],
        "b": ["ь", "8"], "t": ["т", "7", "+"], "h": ["һ", "#"], "s": ["$", "5", "ѕ"],
    ]
    private static let traditional: [String: String] = ["色情": "色情", "裸体": "裸體", "血腥": "血腥", "屠杀": "屠殺"]

    static func prompt(_ rng: inout SeededGenerator) -> String {
        let chinese = rng.below(3) == 0
        let target = 100 + rng.below(200)
        var prompt =
            chinese ? pick(chineseSubjects, &rng) + "，" + pick(chineseDetails, &rng) : pick(subjects, &rng)
        let disguised = rng.below(5) == 0
        var parts: [String] = []
        while prompt.utf8.count + parts.reduce(0, { $0 + $1.utf8.count + 2 }) < target {
            parts.append(chinese && rng.below(3) != 0 ? pick(chineseDetails, &rng) : pick(details, &rng))
        }
        if disguised {
            let term = chinese && rng.below(2) == 0 ? disguiseChinese(&rng) : disguiseLatin(&rng)
            parts.insert(term, at: rng.below(parts.count + 1))
        }
        for part in parts { prompt += (chinese ? "，" : ", ") + part }
        return prompt
    }

    private static func disguiseLatin(_ rng: inout SeededGenerator) -> String {
        let english = smallPackTerms[0].terms + smallPackTerms[1].terms
        let term = pick(english, &rng)
        let letters = term.map { String($0) }
        let disguise: String
        switch rng.below(12) {
        case 0: disguise = letters.joined(separator: " ")
        case 1: disguise = letters.joined(separator: pick([".", "-", "*", "_", "·"], &rng))
        case 2, 3: disguise = lookAlike(term, &rng, share: 2)
        case 4: disguise = letters.map { $0 + String(repeating: $0, count: rng.below(3)) }.joined()
        case 5: disguise = String(term.unicodeScalars.map { Character(fullWidth($0)) })
        case 6: disguise = letters.joined(separator: pick(["\u{200B}", "\u{00AD}", "\u{200D}"], &rng))
        case 7:
            disguise = letters.map { $0 + ["\u{0334}", "\u{0337}", "\u{0338}", "\u{0335}"][rng.below(4)] }.joined()
        case 8: disguise = letters.map { rng.below(2) == 0 ? $0.uppercased() : $0 }.joined()
        case 9: disguise = "(" + letters.joined(separator: ")(") + ")"
        case 10: disguise = lookAlike(term, &rng, share: 1) + pick(["!!", "...", "~"], &rng)
        default: disguise = term.uppercased()
        }
        return pick(["", "a ", "the ", "scene of ", "very "], &rng) + disguise
    }

    private static func disguiseChinese(_ rng: inout SeededGenerator) -> String {
        let term = pick(smallPackTerms[2].terms, &rng)
        let characters = term.map { String($0) }
        switch rng.below(4) {
        case 0: return characters.joined(separator: pick([" ", "\u{3000}", "*", "·", "、"], &rng))
        case 1: return traditional[term] ?? term
        case 2: return characters.joined(separator: "\u{200B}")
        default: return "的" + term + "画面"
        }
    }

    /// Replaces letters with look-alikes, one in `share` on average (at least one).
    private static func lookAlike(_ term: String, _ rng: inout SeededGenerator, share: Int) -> String {
        var replaced = false
        var out = ""
        for (index, letter) in term.enumerated() {
            if let options = lookAlikes[letter], rng.below(share) == 0 || (!replaced && index == term.count - 1) {
                out += pick(options, &rng)
                replaced = true
            } else {
                out.append(letter)
            }
        }
        return out
    }

    private static func fullWidth(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        guard scalar.value >= 0x21 && scalar.value <= 0x7E else { return scalar }
        return Unicode.Scalar(scalar.value + 0xFEE0) ?? scalar
    }

    private static func pick<T>(_ items: [T], _ rng: inout SeededGenerator) -> T { items[rng.below(items.count)] }
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

    /// A number in `0..<bound` (`bound` > 0).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Generated blocklists of a given size, to show how the cost grows with the number of terms.
public enum GeneratedPack {
    /// `count` terms: the small pack's terms first, then word-like English terms and two- or three-character
    /// Chinese terms, half each, the same for the same count.
    public static func terms(count: Int, seed: UInt64 = 0x7E4A) -> [String] {
        var rng = SeededGenerator(seed: seed)
        var terms = Array(BenchmarkCorpus.smallPackTerms.flatMap(\.terms).prefix(count))
        var seen = Set(terms)
        let onsets = [
            "b", "br", "d", "dr", "f", "g", "gl", "k", "kr", "m", "n", "p", "pl", "s", "st", "t", "tr", "v", "z",
        ]
        let vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
        while terms.count < count {
            var term = ""
            if terms.count % 2 == 0 {
                for _ in 0..<(2 + rng.below(2)) {
                    term += onsets[rng.below(onsets.count)] + vowels[rng.below(vowels.count)]
                }
                if rng.below(2) == 0 { term += ["n", "r", "x", "sh"][rng.below(4)] }
            } else {
                for _ in 0..<(2 + rng.below(2)) {
                    term.unicodeScalars.append(Unicode.Scalar(UInt32(0x4E00 + rng.below(0x51A5)))!)
                }
            }
            if seen.insert(term).inserted { terms.append(term) }
        }
        return terms
    }

    /// Writes the pack of `count` terms to `folder/pack-COUNT.yaml` and its terms, one a line, to
    /// `folder/terms-COUNT.txt` (for the Python baselines).
    public static func write(count: Int, to folder: String) throws {
        let terms = terms(count: count)
        try pack(terms).write(toFile: folder + "/pack-\(count).yaml", atomically: true, encoding: .utf8)
        try (terms.joined(separator: "\n") + "\n").write(
            toFile: folder + "/terms-\(count).txt", atomically: true, encoding: .utf8)
    }

    /// `terms` as a one-rule pack (YAML).
    public static func pack(_ terms: [String]) -> String {
        "rules:\n  - id: generated\n    category: benchmark\n    action: block\n    terms: ["
            + terms.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
    }
}
