import CPCRE2

/// A compiled PCRE2 pattern (UTF, UCP, caseless; JIT-compiled when the JIT is available).
///
/// Compiled code is immutable once `pcre2_jit_compile` has run and PCRE2 documents it as safe to share
/// between threads; everything a match mutates lives in a per-worker `MatchScratch`.
final class Regex: @unchecked Sendable {
    let pattern: String
    let code: OpaquePointer
    let isJITCompiled: Bool

    /// Compiles `pattern`.
    /// - Throws: `RegexCompileError` with PCRE2's message and the offset where it stopped.
    /// - Parameter anchored: match only at the start offset given to `firstMatch` (compiled in, so the JIT
    ///   still applies; the term scanner uses it after its own prefilter picked a candidate position).
    init(_ pattern: String, caseless: Bool = true, anchored: Bool = false) throws(RegexCompileError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        var options = UInt32(PCRE2_UTF | PCRE2_UCP)
        if caseless { options |= UInt32(PCRE2_CASELESS) }
        if anchored { options |= UInt32(PCRE2_ANCHORED) }
        let compiled = pattern.withCString { source in
            source.withMemoryRebound(to: UInt8.self, capacity: pattern.utf8.count) {
                pcre2_compile_8($0, pattern.utf8.count, options, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            throw RegexCompileError(message: Regex.message(for: errorCode), offset: errorOffset, code: errorCode)
        }
        self.pattern = pattern
        self.code = compiled
        // JIT failure (e.g. no memory for a huge pattern) is not fatal: the interpreter gives the same answers.
        self.isJITCompiled = pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE)) == 0
    }

    deinit { pcre2_code_free_8(code) }

    /// Finds the first match at or after byte `start` of `subject`.
    /// - Returns: `.match` with the byte range and the `(*MARK)` name, `.noMatch`, or `.failure` with the
    ///   PCRE2 error code (match limit, JIT stack, ...), which callers must treat as a block, never a miss.
    func firstMatch(in subject: UnsafeBufferPointer<UInt8>, from start: Int, scratch: MatchScratch) -> RegexMatch {
        Regex.firstMatch(code: code, in: subject, from: start, scratch: scratch)
    }

    /// The same, on the bare compiled code: the hot term scanner holds code pointers, not `Regex`
    /// references, so two threads scanning never touch a shared reference count.
    static func firstMatch(
        code: OpaquePointer, in subject: UnsafeBufferPointer<UInt8>, from start: Int, scratch: MatchScratch
    ) -> RegexMatch {
        let base = subject.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let rc = pcre2_match_8(
            code, base, subject.count, start, UInt32(PCRE2_NO_UTF_CHECK), scratch.matchData, scratch.matchContext)
        if rc == PCRE2_ERROR_NOMATCH { return .noMatch }
        if rc < 0 { return .failure(code: rc) }
        // rc == 0 means the ovector was too small for all groups; the overall match is still valid.
        let ovector = pcre2_get_ovector_pointer_8(scratch.matchData)!
        let range = Int(ovector[0])..<Int(ovector[1])
        var mark: Int? = nil
        if let name = pcre2_get_mark_8(scratch.matchData) {
            var value = 0
            var p = name
            while p.pointee >= 0x30 && p.pointee <= 0x39 {
                value = value * 10 + Int(p.pointee - 0x30)
                p += 1
            }
            mark = value
        }
        return .match(range, mark: mark)
    }

    /// PCRE2's text for an error code.
    static func message(for code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBufferPointer { pcre2_get_error_message_8(code, $0.baseAddress, 256) }
        guard length > 0 else { return "PCRE2 error \(code)" }
        return String(decoding: buffer[0..<Int(length)], as: UTF8.self)
    }

    /// Escapes `literal` so it matches itself.
    static func escape(_ literal: String) -> String {
        var out = ""
        for scalar in literal.unicodeScalars {
            if scalar.isASCII, !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)), scalar != " " {
                out.unicodeScalars.append("\\")
            }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}

/// The outcome of one PCRE2 match call.
enum RegexMatch: Equatable {
    case match(Range<Int>, mark: Int?)
    case noMatch
    case failure(code: Int32)
}

/// A pattern that PCRE2 refused, with its message and the byte offset where compilation stopped.
struct RegexCompileError: Error, Equatable {
    let message: String
    let offset: Int
    /// PCRE2's error code (`PCRE2_ERROR_PATTERN_TOO_LARGE`, ...).
    var code: Int32 = 0
}
