import Foundation
import Synchronization

/// A private PostgreSQL server for the tests (Debian's `postgresql`): `initdb` in a temporary folder, the
/// server on a Unix socket in that folder only (no TCP port), durability off (tests need none). One serves the
/// whole test process; each test takes a database of its own (`makeDatabase`). A watchdog started beside the
/// server stops it and removes the folder when the test process has gone, however it ended. Run as root (CI),
/// the server runs as the `postgres` user, since PostgreSQL refuses root.
public final class PostgresCluster: Sendable {
    /// The socket folder.
    public let folder: String
    /// The port number in the socket's name.
    public let port = 5432
    private let bin: String
    private let runAs: [String]
    private let counter = Mutex(0)

    /// The process's cluster, started at the first use.
    /// - Throws: when PostgreSQL is not installed (`apt-get install postgresql`) or does not start.
    public static func shared() throws -> PostgresCluster {
        try started.withLock { started in
            if let cluster = started { return cluster }
            let cluster = try PostgresCluster()
            started = cluster
            return cluster
        }
    }

    private static let started = Mutex<PostgresCluster?>(nil)

    /// What went wrong starting it.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened.
        public var description: String
    }

    private init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw Failure(description: "PostgreSQL is not installed (apt-get install postgresql)")
        }
        bin = "/usr/lib/postgresql/\(version)/bin"
        folder = try TestSupport.temporaryDirectory().path
        runAs = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 {
            guard let user = getpwnam("postgres") else { throw Failure(description: "no postgres user") }
            chown(folder, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        let initdb = try Self.run(
            runAs + [
                "\(bin)/initdb", "-D", "\(folder)/data", "-A", "trust", "-U", "promptgate", "--no-sync", "-E", "UTF8",
                "--locale=C",
            ])
        guard initdb.status == 0 else { throw Failure(description: "initdb failed: \(initdb.output)") }
        // The server, and a watchdog that stops it once this process is gone.
        let script = """
            "\(bin)/postgres" -D "\(folder)/data" -k "\(folder)" -c listen_addresses= -p \(port) \
              -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
              > "\(folder)/server.log" 2>&1 &
            server=$!
            while [ -d /proc/\(getpid()) ] && kill -0 $server 2>/dev/null; do sleep 0.2; done
            kill -INT $server 2>/dev/null
            wait $server
            rm -rf "\(folder)"
            """
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: runAs.first ?? "/bin/sh")
        watchdog.arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : ["/bin/sh"]) + ["-c", script]
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
        let socket = "\(folder)/.s.PGSQL.\(port)"
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socket) {
            guard Date() < deadline, watchdog.isRunning else {
                let log = (try? String(contentsOfFile: "\(folder)/server.log", encoding: .utf8)) ?? ""
                throw Failure(description: "postgres did not start: \(log)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// A new, empty database; returns its `postgres://` URL. `createdb` runs as a child process that is waited
    /// for without blocking a thread (many tests make databases at once on a 2-core box).
    public func makeDatabase() async throws -> String {
        let name = counter.withLock { count -> String in
            count += 1
            return "test_\(getpid())_\(count)"
        }
        let created = try await Self.runWithoutBlocking(
            runAs + ["\(bin)/createdb", "-h", folder, "-p", "\(port)", "-U", "promptgate", name])
        guard created.status == 0 else { throw Failure(description: "createdb failed: \(created.output)") }
        return url(database: name)
    }

    private static func runWithoutBlocking(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = try TestSupport.temporaryDirectory().appendingPathComponent("output")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        let status = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: output.deletingLastPathComponent())
        return (status, text)
    }

    /// The URL of `database` on this server.
    public func url(database: String) -> String {
        "postgres://promptgate@localhost:\(port)/\(database)?host=\(folder)"
    }

    private static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
