import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The folder images fetched from the backends are kept in. Names are minted here (`<task id>_<n>.<ext>`)
/// and every lookup checks the name against the same narrow alphabet, so a request path can never leave the
/// folder.
public struct OutputFolder: Sendable {
    /// The folder's path.
    public let path: String

    /// Creates the folder if it does not exist.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The name an output gets: the task id, its index, and the extension of ComfyUI's file (png when odd).
    static func name(task: String, index: Int, source: String) -> String {
        let ext = source.split(separator: ".").last.map { $0.lowercased() } ?? ""
        let safe =
            !ext.isEmpty && ext.count <= 5 && ext.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
            && ext != source.lowercased()
        return "\(task)_\(index).\(safe ? ext : "png")"
    }

    /// Whether `name` is one this folder could have minted: letters, digits, `-`, `_`, one `.`; no path.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 128, name.first != "." else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        } && name.split(separator: ".", omittingEmptySubsequences: false).count == 2
    }

    /// Writes a file atomically (blocking: call it off the cooperative pool): into a new hidden file beside it
    /// (a name `isValidName` refuses, so it is never served half-written), then renamed over `name`. Not
    /// fsynced, like the store's commits at `synchronous: normal`: it survives the process dying.
    /// - Throws: `CocoaError(.fileWriteUnknown)` with the errno's message when a step fails (the partial file
    ///   is removed).
    func write(_ bytes: [UInt8], name: String) throws {
        let final = (path as NSString).appendingPathComponent(name)
        let temporary = (path as NSString).appendingPathComponent(".\(name).\(UInt32.random(in: .min ... .max)).part")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw Self.failure("create", temporary) }
        var written = 0
        let wrote = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                written += count
            }
            return true
        }
        let failure = wrote ? nil : Self.failure("write", temporary)
        if close(fd) != 0, failure == nil {
            unlink(temporary)
            throw Self.failure("close", temporary)
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, final) == 0 else {
            let failure = Self.failure("rename", final)
            unlink(temporary)
            throw failure
        }
    }

    /// The current errno as an error naming the step and the file.
    private static func failure(_ step: String, _ file: String) -> CocoaError {
        CocoaError(
            .fileWriteUnknown,
            userInfo: [
                NSFilePathErrorKey: file,
                NSLocalizedDescriptionKey: "\(step) \(file): \(String(cString: strerror(errno)))",
            ])
    }

    /// Removes files (a task cancelled while its images were being fetched).
    func remove(_ names: [String]) {
        for name in names {
            try? FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name))
        }
    }

    /// The full path of a valid name, or nil.
    public func file(named name: String) -> String? {
        guard Self.isValidName(name) else { return nil }
        return (path as NSString).appendingPathComponent(name)
    }

    /// The bytes of a valid name's file, if it is a regular file in the folder. A symbolic link is never
    /// followed (`O_NOFOLLOW`) and anything but a regular file (a folder, a FIFO, a device) is refused, so
    /// nothing placed in the folder can make the server read outside it.
    public func contents(named name: String) -> Data? {
        guard let path = file(named: name) else { return nil }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        var data = Data(count: Int(info.st_size))
        var offset = 0
        while offset < data.count {
            let count = data.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + offset, raw.count - offset) }
            guard count > 0 else { break }
            offset += count
        }
        return offset == data.count ? data : nil
    }

    /// The content type for a file name, by extension.
    public static func contentType(for name: String) -> String {
        switch name.split(separator: ".").last?.lowercased() ?? "" {
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "webp": "image/webp"
        case "gif": "image/gif"
        case "mp4": "video/mp4"
        case "webm": "video/webm"
        default: "application/octet-stream"
        }
    }
}
