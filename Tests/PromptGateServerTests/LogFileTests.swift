import Foundation
import Logging
@testable import PromptGateServer
import PromptGateTestSupport
import Testing

@Suite("logging.file: rotation, retention, reopen")
struct LogFileTests {
    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func rotatesPastTheSizeAndKeepsEveryLine() throws {
        let path = try TestSupport.temporaryDirectory().appendingPathComponent("logs/app.log").path
        let file = try LogFile(path: path, rotationBytes: 1024)
        var logger = Logger(label: "t") { LineLogHandler(label: $0, level: .info, format: .text, output: file) }
        logger.logLevel = .info
        for index in 0..<100 { logger.info("line \(index) \(String(repeating: "x", count: 40))") }
        let rotated = file.rotatedFiles()
        #expect(rotated.count >= 4)
        for copy in rotated + [path] {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int)
            #expect(size <= 1024, "\(copy)")
        }
        // Nothing lost, nothing out of order.
        let all = (rotated + [path]).flatMap(lines)
        #expect(all.count == 100)
        #expect(all.map { $0.contains("line \(all.firstIndex(of: $0)!) ") }.allSatisfy { $0 })
    }

    @Test func retentionDeletesOldCopiesOnly() throws {
        let folder = try TestSupport.temporaryDirectory()
        let path = folder.appendingPathComponent("app.log").path
        for (name, age) in [("app.log.old", 40.0 * 86400), ("app.log.recent", 3600.0), ("other.log.old", 40.0 * 86400)]
        {
            let copy = folder.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: copy, contents: Data("x\n".utf8))
            try FileManager.default.setAttributes(
                [.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: copy)
        }
        _ = try LogFile(path: path, rotationBytes: 1024, retention: .seconds(30 * 86400))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == ["app.log", "app.log.recent", "other.log.old"])
    }

    @Test func reopenFollowsAnExternalRotation() throws {
        let folder = try TestSupport.temporaryDirectory()
        let path = folder.appendingPathComponent("app.log").path
        let file = try LogFile(path: path)
        file.write(Data("before\n".utf8))
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")  // what logrotate does
        file.write(Data("still the old file\n".utf8))
        file.reopen()  // SIGHUP
        file.write(Data("after\n".utf8))
        #expect(lines(path + ".1") == ["before", "still the old file"])
        #expect(lines(path) == ["after"])
    }

    @Test(arguments: [
        ("100 MB", 100_000_000), ("512KB", 512_000), ("1 GiB", 1 << 30), ("4096", 4096), ("10 m", 10 << 20),
    ])
    func sizes(text: String, bytes: Int) { #expect(LogFile.bytes(text) == bytes) }

    @Test(arguments: [("30 days", 2_592_000), ("12 hours", 43_200), ("1 week", 604_800), ("90", 90), ("5 min", 300)])
    func ages(text: String, seconds: Int) { #expect(LogFile.seconds(text) == seconds) }

    @Test(arguments: [
        ("logging: {file: a.log, rotation: \"100 parsecs\"}\n", "logging.rotation", "expected a size"),
        ("logging: {file: a.log, rotation: \"10 B\"}\n", "logging.rotation", "at least 1 KB"),
        ("logging: {file: a.log, retention: forever}\n", "logging.retention", "expected an age"),
        ("logging: {rotation: \"100 MB\"}\n", "logging.rotation", "needs logging.file"),
        ("logging: {retention: \"30 days\"}\n", "logging.retention", "needs logging.file"),
    ])
    func badSettingsAreRefused(yaml: String, keyPath: String, text: String) {
        do {
            _ = try ServiceConfig.parse(yaml, file: "config.yaml")
            Issue.record("accepted \(yaml)")
        } catch {
            #expect(error.problems.contains { $0.keyPath == keyPath && $0.message.contains(text) }, "\(error.problems)")
        }
    }

    @Test func theSeedsSettingsLoad() throws {
        let config = try ServiceConfig.parse(
            "logging: {file: /var/log/promptgate/app.log, rotation: \"100 MB\", retention: \"30 days\"}\n",
            file: "config.yaml")
        #expect(config.logging.rotationBytes == 100_000_000 && config.logging.retention == .seconds(2_592_000))
    }
}
