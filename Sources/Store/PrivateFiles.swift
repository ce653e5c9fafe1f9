import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Creates files and directories that hold state or secrets: 0600 and 0700, whatever the umask.
public enum PrivateFiles {
    /// A failed system call, as one line.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// `mkdir -p`, each directory it creates made 0700; existing ones are left as they are.
    public static func createDirectories(_ path: String) throws(Failure) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") where !component.isEmpty {
            current += "/" + component
            if mkdir(current, 0o700) == 0 {
                _ = chmod(current, 0o700)
            } else if errno != EEXIST {
                throw Failure(description: "mkdir \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Creates `path` empty with mode 0600 unless it exists; an existing file is left as it is.
    public static func createFile(_ path: String) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return }
            throw Failure(description: "open \(path): \(String(cString: strerror(errno)))")
        }
        _ = fchmod(fd, 0o600)
        close(fd)
    }

    /// Appends `text` to `path`, creating it 0600 when absent.
    public static func append(_ text: String, to path: String) throws(Failure) {
        var fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = fchmod(fd, 0o600)
        } else if errno == EEXIST {
            fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        }
        guard fd >= 0 else { throw Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw Failure(description: "write \(path): \(String(cString: strerror(errno)))") }
    }

    /// Writes `text` to `path` through a temporary file (0600) and a rename.
    public static func replace(_ path: String, with text: String) throws(Failure) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "open \(temporary): \(String(cString: strerror(errno)))") }
        _ = fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else {
            unlink(temporary)
            throw Failure(description: "write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "rename \(temporary): \(message)")
        }
    }
}
