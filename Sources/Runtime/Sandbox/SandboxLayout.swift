import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one sandboxed task sees, and the bwrap arguments that make it so.
///
/// Mounts, in bwrap's order: the system directories read-only (``systemDirectories``, as links
/// where the system has them as links into /usr), the ``systemFiles`` of /etc that exist (and the
/// ``networkFiles`` for a task with the network), a new
/// /proc (of the task's own PID namespace) and /dev, an empty /tmp, the role's read-only paths,
/// the writable directories, and last a cover over every protected path an exposed tree holds.
struct SandboxLayout: Sendable, Hashable {
    /// Directories the task may change: its checkout (or the `stepgate run` directory) and home.
    var writable: [String]
    /// Extra paths it may read (the role's `read-only-paths`).
    var readOnly: [String] = []
    /// Whether it keeps the server's network (otherwise it has only a loopback of its own).
    var network = false
    var workingDirectory: String
    /// Paths to cover wherever an exposed tree holds them (with a SQLite file's -wal, -shm and
    /// -journal companions).
    var protected: [String] = []

    /// The file descriptor bwrap writes its JSON status to (the runner puts a pipe there).
    static let statusDescriptor = 3

    /// Read-only system directories (or links to them), where they exist.
    static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// The parts of /etc every task gets: users and groups, the dynamic linker's cache, the
    /// alternatives (`cc`, `awk`, `java` resolve through them), local host names, the time zone,
    /// OS identification. Never all of /etc, which holds the server's own configuration and
    /// secrets. (Each is one mount, and mounts are most of a sandbox's start-up cost.)
    static let systemFiles = [
        "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/ld.so.cache", "/etc/alternatives",
        "/etc/localtime", "/etc/os-release",
    ]

    /// What a task with the network also gets: name resolution and CA certificates.
    static let networkFiles = [
        "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ssl/certs",
        "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/ca-certificates.conf", "/etc/pki/tls/certs",
        "/etc/pki/ca-trust",
    ]

    /// The /etc entries this task gets.
    var etcFiles: [String] { network ? Self.systemFiles + Self.networkFiles : Self.systemFiles }

    /// The bwrap options (everything before `--` and the command).
    /// - Throws: ``SandboxUnavailable`` when a read-only path does not exist, or an exposed path
    ///   is itself protected.
    func arguments() throws(SandboxUnavailable) -> [String] {
        var a = ["--unshare-all", "--unshare-user", "--disable-userns"]
        if network { a.append("--share-net") }
        a += ["--die-with-parent", "--new-session", "--json-status-fd", String(Self.statusDescriptor)]
        for directory in Self.systemDirectories {
            var info = stat()
            guard lstat(directory, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK, let target = Self.linkTarget(directory) {
                a += ["--symlink", target, directory]
            } else if info.st_mode & S_IFMT == S_IFDIR {
                a += ["--ro-bind", directory, directory]
            }
        }
        for file in etcFiles { a += ["--ro-bind-try", file, file] }
        a += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in readOnly {
            guard access(path, F_OK) == 0 else {
                throw SandboxUnavailable("the read-only path \(path) does not exist on this server", hint: false)
            }
            a += ["--ro-bind", path, path]
        }
        for path in writable { a += ["--bind", path, path] }
        var covered: Set<String> = []
        for path in protectedFiles {
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            // Wherever it shows inside: under each tree that holds it, at the tree's own place.
            for tree in exposedTrees where Self.path(path, isInside: tree.real) || path == tree.real {
                if path == tree.real {
                    throw SandboxUnavailable(
                        "\(tree.inside) holds the server's own state or secrets and cannot be given to a task", hint: false)
                }
                let inside = tree.inside + path.dropFirst(tree.real.count)
                guard covered.insert(inside).inserted else { continue }
                if info.st_mode & S_IFMT == S_IFDIR {
                    a += ["--tmpfs", inside, "--remount-ro", inside]
                } else {
                    a += ["--ro-bind", "/dev/null", inside]
                }
            }
        }
        a += ["--chdir", workingDirectory]
        return a
    }

    /// Whether `path` can be seen from inside (after following links on the server: a program
    /// that resolves into /opt is not there unless /opt was given).
    func exposes(_ path: String) -> Bool {
        let real = Self.realPath(path) ?? path
        if protectedFiles.contains(where: { real == $0 || Self.path(real, isInside: $0) }) { return false }
        if etcFiles.contains(where: { real == $0 || Self.path(real, isInside: $0) }) { return true }
        return exposedTrees.contains { real == $0.real || Self.path(real, isInside: $0.real) }
    }

    /// Every directory tree bound into the sandbox: where it shows inside, and its real path on
    /// the server (a read-only path may be a link). System directories that are links into /usr
    /// show /usr's content and are not trees of their own.
    var exposedTrees: [(inside: String, real: String)] {
        let systemTrees = Self.systemDirectories.filter { directory in
            var info = stat()
            return lstat(directory, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
        }
        return (systemTrees + readOnly + writable).compactMap { path in Self.realPath(path).map { (path, $0) } }
    }

    /// The protected paths that exist, as real paths, with SQLite's companion files.
    var protectedFiles: [String] {
        var result: [String] = []
        for path in protected {
            for candidate in [path, path + "-wal", path + "-shm", path + "-journal"] {
                if let real = Self.realPath(candidate), !result.contains(real) { result.append(real) }
            }
        }
        return result
    }

    static func path(_ path: String, isInside directory: String) -> Bool {
        directory == "/" ? path != "/" : path.hasPrefix(directory + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
