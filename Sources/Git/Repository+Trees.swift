internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

// MARK: - Diffs

extension Repository {
    /// The paths that differ between two commits' trees, with renames detected.
    /// - Parameters:
    ///   - from: the older commit; nil compares against the empty tree (everything is added).
    ///   - to: the newer commit.
    public func changedPaths(from: ObjectID?, to: ObjectID) throws(GitError) -> [ChangedPath] {
        try withTree(ofCommit: to) { (newTree: OpaquePointer) throws(GitError) -> [ChangedPath] in
            guard let from else { return try diff(oldTree: nil, newTree: newTree) }
            return try withTree(ofCommit: from) { (oldTree: OpaquePointer) throws(GitError) -> [ChangedPath] in
                try diff(oldTree: oldTree, newTree: newTree)
            }
        }
    }

    /// The paths a commit changed relative to its first parent (or to the empty tree for a root
    /// commit).
    public func changedPaths(in commit: CommitInfo) throws(GitError) -> [ChangedPath] {
        try changedPaths(from: commit.parents.first, to: commit.id)
    }

    private func diff(oldTree: OpaquePointer?, newTree: OpaquePointer) throws(GitError) -> [ChangedPath] {
        // The *_INIT macros are not imported into Swift; the init functions fill in defaults.
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.flags |= GIT_DIFF_INCLUDE_TYPECHANGE.rawValue
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, handle, oldTree, newTree, &options), "git_diff_tree_to_tree")
        defer { git_diff_free(diff) }

        var findOptions = git_diff_find_options()
        try check(
            git_diff_find_options_init(&findOptions, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)),
            "git_diff_find_options_init")
        findOptions.flags = GIT_DIFF_FIND_RENAMES.rawValue
        try check(git_diff_find_similar(diff, &findOptions), "git_diff_find_similar")

        let count = git_diff_num_deltas(diff)
        var result: [ChangedPath] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
            let status = ChangedPath.Status(delta.status)
            let oldPath = delta.old_file.path.map { String(cString: $0) }
            let newPath = delta.new_file.path.map { String(cString: $0) }
            let path = (status == .deleted ? oldPath : newPath) ?? oldPath ?? ""
            result.append(
                ChangedPath(
                    path: path, oldPath: status == .added ? nil : oldPath, status: status,
                    oldID: status == .added ? .zero : ObjectID(delta.old_file.id),
                    newID: status == .deleted ? .zero : ObjectID(delta.new_file.id)))
        }
        return result
    }
}

extension ChangedPath.Status {
    init(_ delta: git_delta_t) {
        switch delta {
        case GIT_DELTA_ADDED: self = .added
        case GIT_DELTA_DELETED: self = .deleted
        case GIT_DELTA_MODIFIED: self = .modified
        case GIT_DELTA_RENAMED: self = .renamed
        case GIT_DELTA_COPIED: self = .copied
        case GIT_DELTA_TYPECHANGE: self = .typeChanged
        default: self = .other
        }
    }
}

// MARK: - Reading trees

extension EntryKind {
    init?(_ mode: git_filemode_t) {
        switch mode {
        case GIT_FILEMODE_BLOB: self = .file
        case GIT_FILEMODE_BLOB_EXECUTABLE: self = .executable
        case GIT_FILEMODE_LINK: self = .symlink
        case GIT_FILEMODE_TREE: self = .directory
        case GIT_FILEMODE_COMMIT: self = .submodule
        default: return nil
        }
    }
}

extension Repository {
    /// Calls `body` with the tree entry at `path` in a commit, or with nil when there is none.
    private func withEntry<R>(
        at path: String, commit: ObjectID, _ body: (OpaquePointer?) throws(GitError) -> R
    ) throws(GitError) -> R {
        try withTree(ofCommit: commit) { (tree: OpaquePointer) throws(GitError) -> R in
            let relative = Repository.trimmedPath(path)
            if relative.isEmpty { return try body(nil) }
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, tree, relative)
            if rc == GIT_ENOTFOUND.rawValue {
                git_error_clear()  // an expected miss
                return try body(nil)
            }
            try check(rc, "git_tree_entry_bypath")
            defer { git_tree_entry_free(entry) }  // bypath entries are owned, unlike byname/byindex
            return try body(entry)
        }
    }

    /// What kind of entry `path` is in a commit's tree; nil when the path is absent.
    public func entryKind(at path: String, commit: ObjectID) throws(GitError) -> EntryKind? {
        try withEntry(at: path, commit: commit) { (entry: OpaquePointer?) throws(GitError) -> EntryKind? in
            entry.flatMap { EntryKind(git_tree_entry_filemode($0)) }
        }
    }

    /// The contents of the file at `path` in a commit (`git show COMMIT:PATH`); nil when the
    /// path is absent or names a directory or submodule. For a symlink, its target.
    public func blob(at path: String, commit: ObjectID) throws(GitError) -> [UInt8]? {
        try withEntry(at: path, commit: commit) { (entry: OpaquePointer?) throws(GitError) -> [UInt8]? in
            guard let entry, git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
            return try blobBytes(git_tree_entry_id(entry)!)
        }
    }

    /// Copies a blob's bytes (valid in libgit2 only while the blob is alive).
    private func blobBytes(_ id: UnsafePointer<git_oid>) throws(GitError) -> [UInt8] {
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, handle, id), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: content, count: size))
    }

    /// Every file path (regular, executable or symlink) under the directory `prefix` in a
    /// commit, recursively, sorted; the paths include the prefix. Empty when `prefix` is
    /// absent or not a directory; `""` lists the whole tree.
    public func files(under prefix: String, commit: ObjectID) throws(GitError) -> [String] {
        let relative = Repository.trimmedPath(prefix)
        var paths: [String] = []
        try withTree(ofCommit: commit) { (root: OpaquePointer) throws(GitError) in
            if relative.isEmpty {
                try collectFiles(in: root, prefix: "", into: &paths)
                return
            }
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, root, relative)
            if rc == GIT_ENOTFOUND.rawValue {
                git_error_clear()
                return
            }
            try check(rc, "git_tree_entry_bypath")
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_TREE else { return }
            try withTree(git_tree_entry_id(entry)!) { (tree: OpaquePointer) throws(GitError) in
                try collectFiles(in: tree, prefix: relative + "/", into: &paths)
            }
        }
        return paths.sorted()
    }

    private func collectFiles(in tree: OpaquePointer, prefix: String, into paths: inout [String]) throws(GitError) {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let path = prefix + String(cString: git_tree_entry_name(entry))
            switch EntryKind(git_tree_entry_filemode(entry)) {
            case .file, .executable, .symlink:
                paths.append(path)
            case .directory:
                try withTree(git_tree_entry_id(entry)!) { (subtree: OpaquePointer) throws(GitError) in
                    try collectFiles(in: subtree, prefix: path + "/", into: &paths)
                }
            case .submodule, nil:
                break
            }
        }
    }

    /// Calls `body` with the tree `id`, freed afterwards.
    private func withTree<R>(
        _ id: UnsafePointer<git_oid>, _ body: (OpaquePointer) throws(GitError) -> R
    ) throws(GitError) -> R {
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, handle, id), "git_tree_lookup")
        defer { git_tree_free(tree) }
        return try body(tree!)
    }

    /// `path` without leading or trailing slashes (`/a/b/` → `a/b`; `.` → empty).
    static func trimmedPath(_ path: String) -> String {
        var slice = Substring(path)
        while slice.hasPrefix("/") { slice.removeFirst() }
        while slice.hasSuffix("/") { slice.removeLast() }
        return slice == "." ? "" : String(slice)
    }
}

// MARK: - Materialising a tree

/// POSIX `write`, named apart from ``Repository``'s own `write(tree:into:path:)`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

extension Repository {
    /// Writes a commit's tree into `directory`, which must be empty or not yet exist (it is
    /// created, with any missing parents).
    ///
    /// Files get mode 0666 or, when executable in git, 0777 (both less the umask); symlinks are
    /// created as symlinks; submodules are skipped. Content is written byte for byte (no
    /// `.gitattributes` filters). The repository's index, HEAD and work tree are not touched.
    ///
    /// Trees come from pushes, so they are untrusted: an entry named `.`, `..`, `.git` or
    /// containing `/` fails the call, and nothing is ever written through a symlink.
    public func materialize(commit: ObjectID, into directory: String) throws(GitError) {
        try Repository.makeDirectories(directory)
        let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if root < 0 { throw GitError.posix("open", path: directory, errno: errno) }
        defer { close(root) }
        try Repository.requireEmpty(root, path: directory)
        try withTree(ofCommit: commit) { (tree: OpaquePointer) throws(GitError) in
            try write(tree: tree, into: root, path: directory)
        }
    }

    private func write(tree: OpaquePointer, into directoryFD: Int32, path: String) throws(GitError) {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let name = String(cString: git_tree_entry_name(entry))
            let entryPath = path + "/" + name
            guard Repository.isSafeEntryName(name) else {
                throw GitError(
                    code: -1, errorClass: Int32(GIT_ERROR_TREE.rawValue),
                    message: "refusing to write unsafe tree entry '\(entryPath)'", function: "materialize")
            }
            let id = git_tree_entry_id(entry)!
            switch EntryKind(git_tree_entry_filemode(entry)) {
            case .directory:
                if mkdirat(directoryFD, name, 0o777) != 0 {
                    throw GitError.posix("mkdirat", path: entryPath, errno: errno)
                }
                let child = openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child < 0 { throw GitError.posix("openat", path: entryPath, errno: errno) }
                defer { close(child) }
                try withTree(id) { (subtree: OpaquePointer) throws(GitError) in
                    try write(tree: subtree, into: child, path: entryPath)
                }
            case .file, .executable:
                let mode: mode_t = EntryKind(git_tree_entry_filemode(entry)) == .executable ? 0o777 : 0o666
                let bytes = try blobBytes(id)
                let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
                if fd < 0 { throw GitError.posix("openat", path: entryPath, errno: errno) }
                do {
                    try Repository.writeAll(fd, bytes, path: entryPath)
                } catch {
                    close(fd)
                    throw error
                }
                if close(fd) != 0 { throw GitError.posix("close", path: entryPath, errno: errno) }
            case .symlink:
                let target = try blobBytes(id)
                guard !target.contains(0) else {
                    throw GitError(
                        code: -1, errorClass: Int32(GIT_ERROR_TREE.rawValue),
                        message: "symlink '\(entryPath)' has a NUL byte in its target", function: "materialize")
                }
                let rc = (target + [0]).withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { symlinkat($0.baseAddress!, directoryFD, name) }
                }
                if rc != 0 { throw GitError.posix("symlinkat", path: entryPath, errno: errno) }
            case .submodule, nil:
                continue
            }
        }
    }

    private static func isSafeEntryName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && name.lowercased() != ".git"
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(GitError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw GitError.posix("write", path: path, errno: errno)
            }
            offset += written
        }
    }

    /// `mkdir -p`.
    private static func makeDirectories(_ directory: String) throws(GitError) {
        var current = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o777) != 0 && errno != EEXIST {
                throw GitError.posix("mkdir", path: current, errno: errno)
            }
        }
    }

    private static func requireEmpty(_ fd: Int32, path: String) throws(GitError) {
        let copy = dup(fd)
        if copy < 0 { throw GitError.posix("dup", path: path, errno: errno) }
        guard let stream = fdopendir(copy) else {
            let err = errno
            close(copy)
            throw GitError.posix("fdopendir", path: path, errno: err)
        }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." {
                throw GitError(
                    code: -1, errorClass: Int32(GIT_ERROR_OS.rawValue),
                    message: "\(path) is not empty", function: "materialize")
            }
        }
    }
}
