internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

extension Repository {
    /// Creates an empty bare repository at `path` (creating missing parent directories) and
    /// opens it. An existing repository there is reopened, as `git init --bare` would.
    public static func initBare(at path: String) throws(GitError) -> Repository {
        LibGit2.bootstrap()
        var raw: OpaquePointer?
        let rc = git_repository_init(&raw, path, 1)
        if rc < 0 {
            throw GitError.last(code: rc, function: "git_repository_init").translatingOwnership(path: path)
        }
        return Repository(handle: raw!)
    }

    /// Opens the bot's bare mirror at `path`, creating it first when `path` does not exist or
    /// is an empty directory.
    /// - Throws: ``GitError``; when `path` holds something that is not a bare repository.
    public static func openOrCreateMirror(path: String) throws(GitError) -> Repository {
        switch directoryState(path) {
        case .missing, .empty:
            return try initBare(at: path)
        case .notDirectory:
            throw GitError(
                code: -1, errorClass: Int32(GIT_ERROR_OS.rawValue),
                message: "\(path) exists and is not a directory", function: "openOrCreateMirror")
        case .nonEmpty:
            let repository = try Repository(path: path)
            guard repository.isBare else {
                throw GitError(
                    code: -1, errorClass: Int32(GIT_ERROR_REPOSITORY.rawValue),
                    message: "\(path) is a repository with a work tree, not a bare mirror",
                    function: "openOrCreateMirror")
            }
            return repository
        }
    }

    private enum DirectoryState { case missing, empty, nonEmpty, notDirectory }

    private static func directoryState(_ path: String) -> DirectoryState {
        guard let directory = opendir(path) else {
            return errno == ENOTDIR ? .notDirectory : (errno == ENOENT ? .missing : .nonEmpty)
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { return .nonEmpty }
        }
        return .empty
    }
}
