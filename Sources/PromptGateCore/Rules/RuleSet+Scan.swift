import Logging

/// One rule hit inside a text field, mapped back to the original text.
public struct RuleHit: Sendable, Equatable {
    /// The rule's index in the set.
    public var ruleIndex: Int
    /// The normalized view it matched in.
    public var view: ViewKind
    /// Original text offsets, in Unicode scalars.
    public var scalars: Range<Int>
    /// Original text offsets, in UTF-8 bytes.
    public var bytes: Range<Int>
    /// The original text of the span.
    public var matched: String
    /// The text the rule saw in its view.
    public var normalized: String
}

/// A PCRE2 failure other than "no match" (match limit, JIT stack, ...). Callers block on it: fail closed.
public struct EngineFailure: Sendable, Equatable {
    /// The view being scanned.
    public var view: ViewKind
    /// The rule id, or nil for the combined term pattern of the view.
    public var ruleID: String?
    /// PCRE2's error code (e.g. match limit exceeded).
    public var code: Int32
    /// PCRE2's message for it.
    public var message: String
}

/// What scanning one field found.
public struct ScanResult: Sendable, Equatable {
    /// Every hit, in rule then view order.
    public var hits: [RuleHit] = []
    /// Scans PCRE2 could not finish (the caller fails closed).
    public var failures: [EngineFailure] = []
}

extension RuleSet {
    /// Runs every rule that applies to `field` over the views of `text`.
    ///
    /// Hits are reported once per rule and original span (the first view that found it wins), after
    /// exceptions. A PCRE2 error is returned in `failures`, never read as "no match".
    public func scan(_ text: NormalizedText, field: PromptField) -> ScanResult {
        scratchPool.withScratch { scratch in scan(text, field: field, scratch: scratch) }
    }

    /// `prefilter`: rule positions out with the prefix index first (off only in tests, to compare).
    func scan(_ text: NormalizedText, field: PromptField, scratch: MatchScratch, prefilter: Bool = true) -> ScanResult {
        var result = ScanResult()
        var seen = Set<HitKey>()
        scratch.callout.breaker = scratch.breaker
        defer { scratch.callout.view = nil }
        for kind in ViewKind.allCases {
            let chunks = termChunks[kind.order]
            let patternRules = patternRulesByView[kind.order]
            guard !chunks.isEmpty || !patternRules.isEmpty, let view = text.view(kind) else { continue }
            // folded == raw or joined == folded (the common case for plain prompts): the earlier view's
            // patterns hold this view's keys too (see `RuleSet.keys(of:in:)`), so the text was searched.
            var identicalTo: ViewKind? = nil
            if kind == .folded || kind == .joined {
                let earlier: ViewKind = kind == .folded ? .raw : .folded
                if let other = text.view(earlier), other.bytes == view.bytes { identicalTo = earlier }
            }
            scratch.callout.view = view
            view.bytes.withUnsafeBufferPointer { subject in
                if !chunks.isEmpty, !(identicalTo != nil && termViewsNest[kind.order]) {
                    let failure = scanTerms(
                        chunks, anyStart: termStartUnions[kind.order],
                        prefixes: prefilter ? termPrefixes[kind.order] : nil,
                        in: subject, view: view, scratch: scratch
                    ) { range, mark in
                        guard let mark, mark < termOwners[kind.order].count else { return }
                        for ruleIndex in termOwners[kind.order][mark] where compiled[ruleIndex].applies(to: field) {
                            record(ruleIndex, range, view, text, scratch, &seen, &result)
                        }
                    }
                    if let failure { result.failures.append(failure) }
                }
                for ruleIndex in patternRules where compiled[ruleIndex].applies(to: field) {
                    guard let regex = compiled[ruleIndex].pattern else { continue }
                    if let identicalTo, compiled[ruleIndex].definition.views.contains(identicalTo) { continue }
                    let failure = forEachMatch(
                        of: regex, in: subject, scratch: scratch, view: kind, ruleID: compiled[ruleIndex].definition.id
                    ) { range, _ in
                        record(ruleIndex, range, view, text, scratch, &seen, &result)
                    }
                    if let failure { result.failures.append(failure) }
                }
            }
        }
        return result
    }

    /// Runs the anchored term pattern at each position whose first two bytes can start a Han key, or a Latin
    /// key where (in the token views) a token starts. Leftmost-first like an unanchored search. Of a view's
    /// chunks, only those whose start filter admits the position run (chunks split the terms by first atom).
    func scanTerms(
        _ chunks: [TermChunk], anyStart: StartFilter, prefixes: TermPrefixIndex?,
        in subject: UnsafeBufferPointer<UInt8>,
        view: TextView, scratch: MatchScratch, _ body: (Range<Int>, Int?) -> Void
    ) -> EngineFailure? {
        let count = subject.count
        let checkTokens = view.kind.usesTokenBoundaries && view.tokenBoundaries.count == count + 1
        return view.tokenBoundaries.withUnsafeBufferPointer { tokens -> EngineFailure? in
            var position = 0
            positions: while position < count {
                let first = subject[position]
                let second = position + 1 < count ? subject[position + 1] : 0
                // Most positions: no chunk's key starts with these two bytes (continuation bytes never do).
                guard first & 0xC0 != 0x80, anyStart.contains(first, second) else {
                    position += 1
                    continue
                }
                // A Latin key starts a token (token views) or a word (raw/folded: cheap pre-check of the byte
                // before for an ASCII letter or digit; the pattern checks the rest).
                let latinStart =
                    checkTokens ? tokens[position] == 1 : position == 0 || !Self.isASCIIWordByte(subject[position - 1])
                // Whether a Latin or a Han key can start here at all (walked at most once each, on demand).
                var latinPossible: Bool? = latinStart ? nil : false
                var hanPossible: Bool? = nil
                for chunk in chunks where chunk.starts.contains(first, second) && (chunk.isHan || latinStart) {
                    if let prefixes {
                        let root = chunk.isHan ? TermPrefixIndex.hanRoot : TermPrefixIndex.latinRoot
                        let possible =
                            (chunk.isHan ? hanPossible : latinPossible)
                            ?? prefixes.mayMatch(subject, at: position, root: root)
                        if chunk.isHan { hanPossible = possible } else { latinPossible = possible }
                        guard possible else { continue }
                    }
                    switch Regex.firstMatch(code: chunk.code, in: subject, from: position, scratch: scratch) {
                    case .noMatch:
                        continue
                    case .failure(let code):
                        return engineFailure(view: view.kind, ruleID: nil, code: code)
                    case .match(let range, let mark):
                        body(range, mark)
                        position = max(range.upperBound, position + 1)
                        continue positions
                    }
                }
                position += 1
            }
            return nil
        }
    }

    @inline(__always)
    private static func isASCIIWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }

    private func engineFailure(view: ViewKind, ruleID: String?, code: Int32) -> EngineFailure {
        let failure = EngineFailure(view: view, ruleID: ruleID, code: code, message: Regex.message(for: code))
        RuleSet.logger.error(
            "PCRE2 engine error; failing closed",
            metadata: [
                "view": "\(view.rawValue)", "rule": "\(ruleID ?? "<terms>")", "code": "\(code)",
                "message": "\(failure.message)",
            ])
        return failure
    }

    private struct HitKey: Hashable {
        var rule: Int
        var start: Int
        var end: Int
    }

    private func forEachMatch(
        of regex: Regex, in subject: UnsafeBufferPointer<UInt8>, scratch: MatchScratch, view: ViewKind,
        ruleID: String?, _ body: (Range<Int>, Int?) -> Void
    ) -> EngineFailure? {
        var start = 0
        while start <= subject.count {
            switch regex.firstMatch(in: subject, from: start, scratch: scratch) {
            case .noMatch:
                return nil
            case .failure(let code):
                return engineFailure(view: view, ruleID: ruleID, code: code)
            case .match(let range, let mark):
                body(range, mark)
                // Continue after the match; after an empty match step over one whole UTF-8 scalar.
                var next = max(range.upperBound, start)
                if range.isEmpty {
                    next += 1
                    while next < subject.count && subject[next] & 0xC0 == 0x80 { next += 1 }
                }
                start = next
            }
        }
        return nil
    }

    private func record(
        _ ruleIndex: Int, _ range: Range<Int>, _ view: TextView, _ text: NormalizedText, _ scratch: MatchScratch,
        _ seen: inout Set<HitKey>, _ result: inout ScanResult
    ) {
        let span = text.originalSpan(of: range, in: view)
        guard
            seen.insert(HitKey(rule: ruleIndex, start: span.scalars.lowerBound, end: span.scalars.upperBound)).inserted
        else { return }
        let rule = compiled[ruleIndex]
        if !rule.exceptions.isEmpty, isExcepted(span.scalars, rule: rule, view: view, text: text, scratch: scratch) {
            return
        }
        result.hits.append(
            RuleHit(
                ruleIndex: ruleIndex, view: view.kind, scalars: span.scalars, bytes: span.bytes,
                matched: text.originalText(bytes: span.bytes),
                normalized: String(decoding: view.bytes[range], as: UTF8.self)))
    }

    /// Whether an exception of `rule` matched (in the hit's view or in `folded`) over a span covering the hit.
    private func isExcepted(
        _ hit: Range<Int>, rule: CompiledRule, view: TextView, text: NormalizedText, scratch: MatchScratch
    ) -> Bool {
        var views = [view]
        if view.kind != .folded, let folded = text.view(.folded) { views.append(folded) }
        if view.kind != .raw, let raw = text.view(.raw) { views.append(raw) }
        let saved = scratch.callout.view
        defer { scratch.callout.view = saved }
        for candidate in views {
            scratch.callout.view = candidate
            let covered = candidate.bytes.withUnsafeBufferPointer { subject -> Bool in
                for exception in rule.exceptions {
                    var start = 0
                    while start < subject.count {
                        guard
                            case .match(let range, _) = exception.firstMatch(in: subject, from: start, scratch: scratch)
                        else { break }
                        let span = candidate.originalScalars(of: range)
                        if span.lowerBound <= hit.lowerBound && hit.upperBound <= span.upperBound { return true }
                        start = range.isEmpty ? range.upperBound + 1 : range.upperBound
                        while start < subject.count && subject[start] & 0xC0 == 0x80 { start += 1 }
                    }
                }
                return false
            }
            if covered { return true }
        }
        return false
    }

    static let logger = Logger(label: "promptgate.rules")
}
