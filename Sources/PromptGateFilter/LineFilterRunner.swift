import PromptGateCore
import Dispatch
import Foundation

/// Streams lines from a file descriptor through the pipeline and writes verdicts in input order.
///
/// Reads whatever the input has ready (up to 64 KiB), judges the complete lines of that chunk on all
/// workers in parallel, writes their records in order and moves on, so it keeps up with a file and still
/// answers each line of a slow, endless pipe as soon as it arrives.
public struct LineFilterRunner: Sendable {
    /// Policy only, or policy then optimizers per preset.
    public enum Pipelines: Sendable {
        case policy(Pipeline)
        case presets(PipelineSet)
    }

    /// The pipelines lines run through.
    public var pipelines: Pipelines
    /// How lines are read (text or JSONL).
    public var input: InputFormat
    /// How verdicts are written.
    public var output: OutputFormat
    /// Which lines are written (nil: all).
    public var selection: OutputSelection?
    /// Whether records carry the stage trace.
    public var includeTrace: Bool
    /// Whether records carry the prompt and negative prompt as read (`--echo`).
    public var echo: Bool
    /// Worker threads (output stays in input order).
    public var jobs: Int
    /// Longest accepted input line; a longer one gets an error record and is skipped without being kept
    /// in memory.
    public var maxLineBytes: Int

    /// A runner with these settings.
    public init(
        pipelines: Pipelines, input: InputFormat = .auto, output: OutputFormat = .jsonl,
        selection: OutputSelection? = nil, includeTrace: Bool = false, echo: Bool = false,
        jobs: Int = ProcessInfo.processInfo.activeProcessorCount, maxLineBytes: Int = 1 << 20
    ) {
        self.pipelines = pipelines
        self.input = input
        self.output = output
        self.selection = selection
        self.includeTrace = includeTrace
        self.echo = echo
        self.jobs = max(1, jobs)
        self.maxLineBytes = max(1, maxLineBytes)
    }

    /// Processes `inputFD` until end of input. `diagnostics` receives text-mode error lines (for stderr);
    /// `progress` is called after every chunk.
    public func run(
        inputFD: Int32, outputFD: Int32, diagnostics: (String) -> Void = { _ in },
        progress: (FilterStats) -> Void = { _ in }
    ) throws -> FilterStats {
        var stats = FilterStats()
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var lineNumber = 0
        var atEnd = false
        // Set while skipping the rest of a line longer than `maxLineBytes` (memory stays bounded).
        var discarding = false
        while !atEnd {
            let count = buffer.withUnsafeMutableBytes { read(inputFD, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FilterIOError(message: "cannot read input: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                atEnd = true
                if pending.isEmpty && !discarding { break }
                pending.append(UInt8(ascii: "\n"))
            } else {
                pending.append(contentsOf: buffer[0..<count])
            }
            var outcomes: [Outcome] = []
            if discarding {
                guard let newline = pending.firstIndex(of: UInt8(ascii: "\n")) else {
                    pending.removeAll(keepingCapacity: true)
                    continue
                }
                pending.removeFirst(newline + 1)
                discarding = false
                lineNumber += 1
                outcomes.append(overlongOutcome(line: lineNumber))
            }
            if let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) {
                var lines: [ArraySlice<UInt8>] = []
                var start = 0
                let chunk = Array(pending[0...lastNewline])
                pending.removeFirst(lastNewline + 1)
                for index in chunk.indices where chunk[index] == UInt8(ascii: "\n") {
                    lines.append(chunk[start..<index])
                    start = index + 1
                }
                outcomes += judge(lines, firstLine: lineNumber + 1)
                lineNumber += lines.count
            }
            if pending.count > maxLineBytes {
                pending.removeAll(keepingCapacity: true)
                discarding = true
            }
            guard !outcomes.isEmpty else { continue }
            var out: [UInt8] = []
            for outcome in outcomes {
                stats.lines += 1
                switch outcome.decision {
                case .some(.allow): stats.allowed += 1
                case .some(.flag): stats.flagged += 1
                case .some(.block): stats.blocked += 1
                case .none:
                    stats.errors += 1
                    if let diagnostic = outcome.diagnostic { diagnostics(diagnostic) }
                }
                out.append(contentsOf: outcome.rendered)
            }
            try write(out, to: outputFD)
            progress(stats)
        }
        return stats
    }

    private func overlongOutcome(line: Int) -> Outcome {
        let error = InputLineError(
            line: line, code: "input.line_too_long", detail: "line is longer than \(maxLineBytes) bytes; skipped")
        return errorOutcome(error)
    }

    struct Outcome {
        var decision: Decision?
        var rendered: [UInt8]
        var diagnostic: String?
    }

    /// Judges lines in parallel (contiguous slices per worker) and returns outcomes in input order.
    func judge(_ lines: [ArraySlice<UInt8>], firstLine: Int) -> [Outcome] {
        let workers = lines.count >= 16 ? min(jobs, lines.count / 8) : 1
        if workers <= 1 {
            return lines.enumerated().map { judge($1, line: firstLine + $0) }
        }
        let results = OutcomeSlots(count: lines.count)
        let per = (lines.count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let range = (worker * per)..<min(lines.count, (worker + 1) * per)
            for index in range {
                results.set(index, judge(lines[index], line: firstLine + index))
            }
        }
        return results.values
    }

    func judge(_ bytes: ArraySlice<UInt8>, line: Int) -> Outcome {
        switch InputLine.parse(bytes, line: line, format: input) {
        case .failure(let error):
            return errorOutcome(error)
        case .success(let request):
            let context = PromptContext(request: request)
            context.recordsNotes = includeTrace
            var optimized = false
            do {
                switch pipelines {
                case .policy(let pipeline):
                    try pipeline.run(context)
                case .presets(let set):
                    try set.pipeline(for: request).run(context)
                    optimized = true
                }
            } catch {
                let failure = InputLineError(
                    line: line, code: (error as? any PromptGateError)?.code ?? "pipeline.error", detail: "\(error)")
                return errorOutcome(failure)
            }
            let decision = context.verdict.decision
            let keep = selection.map { $0.keeps(decision) } ?? (output == .jsonl || decision != .block)
            guard keep else { return Outcome(decision: decision, rendered: []) }
            switch output {
            case .text:
                var text: [UInt8]
                if optimized && decision != .block {
                    // One line per prompt: line breaks inside an optimized prompt become spaces.
                    text = Array(context.request.prompt.utf8).map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
                } else {
                    text = Array(bytes)
                    if text.last == UInt8(ascii: "\r") { text.removeLast() }
                }
                text.append(UInt8(ascii: "\n"))
                return Outcome(decision: decision, rendered: text)
            case .jsonl:
                var record = VerdictRecord(line: line, context: context, includeTrace: includeTrace)
                if echo { record.echo = (request.prompt, request.negativePrompt) }
                if optimized && decision != .block { record.request = context.request }
                return Outcome(decision: decision, rendered: encode(record))
            }
        }
    }

    private func errorOutcome(_ error: InputLineError) -> Outcome {
        switch output {
        case .text: return Outcome(decision: nil, rendered: [], diagnostic: error.message)
        case .jsonl: return Outcome(decision: nil, rendered: encode(VerdictRecord(error: error)))
        }
    }

    func encode(_ record: VerdictRecord) -> [UInt8] {
        var bytes = (try? JSONWriter.encode(record)) ?? Array(#"{"line":\#(record.line),"decision":"error"}"#.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private func write(_ bytes: [UInt8], to fd: Int32) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw FilterIOError(message: "cannot write output: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

/// Result slots written by concurrent workers, each index by exactly one worker.
private final class OutcomeSlots: @unchecked Sendable {
    // Safe: every index is written by one worker only, and `values` is read after concurrentPerform returns.
    private let storage: UnsafeMutableBufferPointer<LineFilterRunner.Outcome?>
    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }
    deinit {
        storage.deinitialize()
        storage.deallocate()
    }
    func set(_ index: Int, _ value: LineFilterRunner.Outcome) { storage[index] = value }
    var values: [LineFilterRunner.Outcome] { storage.map { $0! } }
}
