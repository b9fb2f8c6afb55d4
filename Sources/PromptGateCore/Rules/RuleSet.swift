import CPCRE2

extension PromptField {
    var bit: UInt8 {
        switch self {
        case .prompt: 1
        case .negativePrompt: 2
        }
    }
}

/// Compiled, immutable rule packs: one trie-factored term pattern per view plus the separate regex rules.
/// Built once (`RuleSet.compile`), then shared by every thread; hot reload builds a new one and swaps it.
public final class RuleSet: Sendable {
    /// The rules, in load order.
    public let rules: [RuleDefinition]
    let compiled: [CompiledRule]
    /// Per view (indexed by `ViewKind.order`): the combined term pattern in chunks (see `TermTrie.chunks`), and
    /// term id → indices of the rules that own the term in that view.
    let termChunks: [[TermChunk]]
    /// Per view: the keys' trie walked natively to rule positions out before the chunks run.
    let termPrefixes: [TermPrefixIndex]
    /// Per view: the union of the chunks' start filters (checked first, at every position).
    let termStartUnions: [StartFilter]
    /// Per view: every term rule on this view also runs on the view before it (raw before folded, folded
    /// before joined), so an identical text need not be searched twice.
    let termViewsNest: [Bool]
    let termOwners: [[[Int]]]
    /// Per view: indices of the pattern rules that run on it.
    let patternRulesByView: [[Int]]
    /// Match limit applied to every PCRE2 call (ReDoS guard).
    public let matchLimit: UInt32
    let scratchPool: MatchScratchPool

    /// One compiled chunk of a view's term pattern.
    struct TermChunk: Sendable {
        let regex: Regex
        /// The compiled code (kept alive by `regex`), for the scanner. PCRE2 code is immutable after
        /// compilation and shareable between threads, hence `nonisolated(unsafe)`.
        nonisolated(unsafe) let code: OpaquePointer
        let starts: StartFilter
        let isHan: Bool

        init(regex: Regex, starts: StartFilter, isHan: Bool) {
            self.regex = regex
            self.code = regex.code
            self.starts = starts
            self.isHan = isHan
        }
    }

    struct CompiledRule: Sendable {
        let definition: RuleDefinition
        let pattern: Regex?
        let exceptions: [Regex]
        /// Bit per `PromptField` (a bit mask, not a Set, to keep the hot path free of reference counting).
        let fieldMask: UInt8

        func applies(to field: PromptField) -> Bool { fieldMask & field.bit != 0 }
    }

    /// The default PCRE2 match limit: a catastrophic pattern fails in well under a millisecond.
    public static let defaultMatchLimit: UInt32 = 200_000

    private init(
        rules: [RuleDefinition], compiled: [CompiledRule], termChunks: [[TermChunk]],
        termPrefixes: [TermPrefixIndex], termOwners: [[[Int]]], patternRulesByView: [[Int]], matchLimit: UInt32
    ) {
        self.rules = rules
        self.compiled = compiled
        self.termChunks = termChunks
        self.termPrefixes = termPrefixes
        self.termStartUnions = termChunks.map { chunks in
            chunks.reduce(into: StartFilter()) { union, chunk in union.formUnion(chunk.starts) }
        }
        self.termViewsNest = ViewKind.allCases.map { view in
            let earlier: ViewKind? = view == .folded ? .raw : view == .joined ? .folded : nil
            guard let earlier else { return false }
            return rules.allSatisfy { $0.pattern != nil || !$0.views.contains(view) || $0.views.contains(earlier) }
        }
        self.termOwners = termOwners
        self.patternRulesByView = patternRulesByView
        self.matchLimit = matchLimit
        self.scratchPool = MatchScratchPool(matchLimit: matchLimit)
    }

    /// Compiles validated rules. Every bad pattern or exception is reported with PCRE2's message and offset;
    /// on any problem nothing is returned.
    public static func compile(
        _ rules: [RuleDefinition], matchLimit: UInt32 = defaultMatchLimit
    ) throws(RuleLoadError) -> RuleSet {
        var problems: [LoadProblem] = []
        var compiled: [CompiledRule] = []
        var tries = ViewKind.allCases.map { _ in TermTrie() }
        var owners: [[[Int]]] = Array(repeating: [], count: ViewKind.allCases.count)
        var patternRules: [[Int]] = Array(repeating: [], count: ViewKind.allCases.count)
        var seen: Set<String> = []
        for (index, rule) in rules.enumerated() {
            if !seen.insert(rule.id).inserted {
                problems.append(
                    LoadProblem(file: rule.source, ruleID: rule.id, keyPath: "id", message: "duplicate rule id"))
            }
            var pattern: Regex? = nil
            if let source = rule.pattern {
                do {
                    pattern = try Regex(source)
                } catch {
                    problems.append(
                        LoadProblem(
                            file: rule.source, ruleID: rule.id, keyPath: "pattern",
                            message: "PCRE2 error at offset \(error.offset): \(error.message)"))
                }
                for view in Set(rule.views) { patternRules[view.order].append(index) }
            } else {
                for view in Set(rule.views) {
                    for term in rule.terms {
                        for key in Self.keys(of: term, in: view) {
                            let id = tries[view.order].insert(key)
                            while owners[view.order].count <= id { owners[view.order].append([]) }
                            if !owners[view.order][id].contains(index) { owners[view.order][id].append(index) }
                        }
                    }
                }
            }
            var exceptions: [Regex] = []
            for (position, source) in rule.exceptions.enumerated() {
                do {
                    exceptions.append(try Regex(source))
                } catch {
                    problems.append(
                        LoadProblem(
                            file: rule.source, ruleID: rule.id, keyPath: "exceptions[\(position)]",
                            message: "PCRE2 error at offset \(error.offset): \(error.message)"))
                }
            }
            compiled.append(
                CompiledRule(
                    definition: rule, pattern: pattern, exceptions: exceptions,
                    fieldMask: rule.fields.reduce(0) { $0 | $1.bit }))
        }
        var termChunks: [[TermChunk]] = Array(repeating: [], count: ViewKind.allCases.count)
        for view in ViewKind.allCases {
            do {
                termChunks[view.order] = try Self.compileChunks(tries[view.order], view: view)
            } catch {
                problems.append(
                    LoadProblem(
                        file: "<terms>", keyPath: "view \(view.rawValue)",
                        message: "the combined term pattern did not compile (\(error.message))"))
            }
        }
        if !problems.isEmpty { throw RuleLoadError(problems: problems) }
        return RuleSet(
            rules: rules, compiled: compiled, termChunks: termChunks,
            termPrefixes: ViewKind.allCases.map { TermPrefixIndex(tries[$0.order], view: $0) }, termOwners: owners,
            patternRulesByView: patternRules, matchLimit: matchLimit)
    }

    /// The trie of one view compiled in chunks; a chunk PCRE2 finds too large is split again with half the
    /// budget (one chunk of the bundled packs; twenty or so for 10,000 terms).
    static func compileChunks(_ trie: TermTrie, view: ViewKind) throws(RegexCompileError) -> [TermChunk] {
        var budget = 24_000
        while true {
            do {
                return try trie.chunks(view: view, budget: budget).map { chunk throws(RegexCompileError) in
                    TermChunk(regex: try Regex(chunk.pattern, anchored: true), starts: chunk.starts, isHan: chunk.isHan)
                }
            } catch {
                guard error.code == PCRE2_ERROR_PATTERN_TOO_LARGE, budget > 500 else { throw error }
                budget /= 2
            }
        }
    }

    /// The keys a term is compiled to in `view`. `raw` also holds the folded and joined keys, and `folded` the
    /// joined ones, so that when a view's text equals the previous view's the scanner can skip it without
    /// missing a term (`Straße` folds to `strasse`, `self-harm` joins to `selfharm`).
    static func keys(of term: String, in view: ViewKind) -> [TermKey] {
        let views: [ViewKind]
        switch view {
        case .raw: views = [.raw, .folded, .joined]
        case .folded: views = [.folded, .joined]
        default: views = [view]
        }
        var keys: [TermKey] = []
        for source in views {
            guard let key = TermKey(term: term, view: source) else { continue }
            // A joined key in raw/folded is matched with word boundaries, like the view's own keys.
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// Loads and compiles packs from files or folders; the bundled packs when `paths` is empty.
    public static func load(paths: [String], matchLimit: UInt32 = defaultMatchLimit) throws(RuleLoadError) -> RuleSet {
        let definitions = paths.isEmpty ? try BundledRules.definitions() : try RulePackLoader.load(paths: paths)
        return try compile(definitions, matchLimit: matchLimit)
    }

    /// Number of distinct compiled terms across views (for status output).
    public var termCount: Int { rules.reduce(0) { $0 + $1.terms.count } }
}
