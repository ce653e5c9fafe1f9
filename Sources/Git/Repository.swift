internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An open Git repository (bare or not), read through libgit2.
///
/// Not `Sendable`: libgit2 forbids using one repository handle from two threads at once, and
/// keeping the class non-`Sendable` lets the compiler enforce that. Confine an instance to one
/// task, or wrap it in an actor.
///
/// Every method copies its results into Swift values; no libgit2 pointer leaves this type.
public final class Repository {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        git_repository_free(handle)
    }

    /// Opens the repository at `path` exactly (a bare repository, a `.git` directory or a work
    /// tree), without searching parent directories.
    /// - Throws: ``GitError``; for a repository owned by another user, a message saying so.
    public convenience init(path: String) throws(GitError) {
        let handle = try Repository.open(path: path, flags: GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue)
        self.init(handle: handle)
    }

    private static func open(path: String?, flags: UInt32) throws(GitError) -> OpaquePointer {
        LibGit2.bootstrap()
        var raw: OpaquePointer?
        let rc = git_repository_open_ext(&raw, path, flags, nil)
        if rc < 0 {
            let error = GitError.last(code: rc, function: "git_repository_open_ext")
            throw error.translatingOwnership(path: absolutePath(path ?? "."))
        }
        return raw!
    }

    /// Turns libgit2's ownership check off (or back on) for the whole process.
    ///
    /// libgit2 (like git since CVE-2022-24765) refuses to open a repository whose directory
    /// belongs to another user. A server that runs hooks or the bot under a service account
    /// over repositories owned by the git daemon's user may need to disable it; do so only when
    /// every repository path comes from trusted server configuration, never from a client.
    /// This is a global libgit2 option affecting every thread.
    public static func setOwnerValidation(_ enabled: Bool) throws(GitError) {
        LibGit2.bootstrap()
        try check(clibgit2_set_owner_validation(enabled ? 1 : 0), "git_libgit2_opts")
    }

    /// Whether libgit2's ownership check is currently on (it is by default).
    public static func ownerValidation() throws(GitError) -> Bool {
        LibGit2.bootstrap()
        var enabled: Int32 = 0
        try check(clibgit2_get_owner_validation(&enabled), "git_libgit2_opts")
        return enabled != 0
    }

    /// The repository's git directory (for a bare repository, the repository itself), without a
    /// trailing slash.
    public var path: String {
        var path = String(cString: git_repository_path(handle))
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// True for a repository without a work tree.
    public var isBare: Bool { git_repository_is_bare(handle) != 0 }
}

// MARK: - Hooks

extension Repository {
    /// Opens the repository a git hook runs in, seeing objects still in the push quarantine.
    ///
    /// Reads the process environment; see ``openFromHookEnvironment(environment:)``.
    public static func openFromHookEnvironment() throws(GitError) -> Repository {
        try openFromHookEnvironment(environment: processEnvironment())
    }

    /// Opens the repository described by a git hook's environment, including objects that
    /// `receive-pack` keeps in its quarantine directory until pre-receive accepts the push.
    ///
    /// A plain open does not see pushed objects during pre-receive: git writes them to
    /// `objects/tmp_objdir-incoming-*` and names that directory in `GIT_QUARANTINE_PATH` and
    /// `GIT_OBJECT_DIRECTORY`, with the real object store in `GIT_ALTERNATE_OBJECT_DIRECTORIES`.
    ///
    /// - When `GIT_QUARANTINE_PATH` is set, neither `GIT_WORK_TREE` nor `GIT_COMMON_DIR` is (libgit2
    ///   1.5 rejects those with `FROM_ENV`), and `environment` agrees with the process
    ///   environment on the variables libgit2 reads, libgit2 opens the repository itself from
    ///   the environment (`GIT_REPOSITORY_OPEN_FROM_ENV`).
    /// - Otherwise `GIT_DIR` (or the current directory) is opened, and `GIT_QUARANTINE_PATH`,
    ///   `GIT_OBJECT_DIRECTORY` and each entry of `GIT_ALTERNATE_OBJECT_DIRECTORIES`
    ///   (colon-separated) are added to its object database as alternates.
    ///
    /// Relative paths are resolved against the current directory, which for a hook is the
    /// repository. Treat the result as read-only: objects libgit2 wrote would land in the
    /// quarantine, and git forbids ref updates from it.
    /// - Parameter environment: the hook's environment variables.
    public static func openFromHookEnvironment(environment: [String: String]) throws(GitError) -> Repository {
        switch hookOpenPlan(environment: environment) {
        case .fromEnvironment:
            return Repository(handle: try open(path: nil, flags: GIT_REPOSITORY_OPEN_FROM_ENV.rawValue))
        case .explicit(let gitDirectory, let objectDirectories):
            let repository = try Repository(path: gitDirectory)
            if !objectDirectories.isEmpty {
                try repository.addAlternates(objectDirectories)
            }
            return repository
        }
    }

    /// How ``openFromHookEnvironment(environment:)`` opens a repository.
    enum HookOpenPlan: Equatable {
        /// `GIT_REPOSITORY_OPEN_FROM_ENV`: libgit2 reads the process environment itself.
        case fromEnvironment
        /// Open the git directory, then add the object directories as disk alternates.
        case explicit(gitDirectory: String, objectDirectories: [String])
    }

    static func hookOpenPlan(environment: [String: String]) -> HookOpenPlan {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        let quarantine = value("GIT_QUARANTINE_PATH")
        let hasWorkTree = value("GIT_WORK_TREE") != nil || value("GIT_COMMON_DIR") != nil
        // FROM_ENV reads getenv(), so it is only right when it would see what we were given.
        let libgit2SeesSameEnvironment = fromEnvVariables.allSatisfy { name in
            environment[name] == getenv(name).map { String(cString: $0) }
        }
        if quarantine != nil && !hasWorkTree && libgit2SeesSameEnvironment {
            return .fromEnvironment
        }
        var objectDirectories: [String] = []
        for candidate in [quarantine, value("GIT_OBJECT_DIRECTORY")] {
            if let candidate { objectDirectories.append(candidate) }
        }
        if let alternates = value("GIT_ALTERNATE_OBJECT_DIRECTORIES") {
            objectDirectories += alternates.split(separator: ":").map(String.init)
        }
        var seen = Set<String>()
        return .explicit(
            gitDirectory: value("GIT_DIR") ?? ".",
            objectDirectories: objectDirectories.filter { seen.insert($0).inserted })
    }

    /// The variables `GIT_REPOSITORY_OPEN_FROM_ENV` reads in libgit2 1.5.
    private static let fromEnvVariables = [
        "GIT_DIR", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_INDEX_FILE",
        "GIT_NAMESPACE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_WORK_TREE",
        "GIT_COMMON_DIR",
    ]

    private func addAlternates(_ directories: [String]) throws(GitError) {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "git_repository_odb")
        defer { git_odb_free(odb) }
        for directory in directories {
            try check(git_odb_add_disk_alternate(odb, directory), "git_odb_add_disk_alternate")
        }
    }

    private static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }
}

/// `path` made absolute against the current directory (for messages only).
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let cwd = getcwd(nil, 0) else { return path }
    defer { free(cwd) }
    let base = String(cString: cwd)
    if path == "." { return base }
    return base + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
}

// MARK: - Revisions and references

extension Repository {
    /// Resolves a revision (`HEAD`, `main`, `HEAD~1`, a full or abbreviated ID, `v1.0^{}`, ...)
    /// to the commit it names.
    /// - Throws: ``GitError``; ``GitError/isNotFound`` when nothing matches.
    public func resolve(_ revision: String) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, handle, revision), "git_revparse_single")
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "git_object_peel")
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit)!)
    }

    /// Like ``resolve(_:)``, but nil when the revision names nothing (or an unborn branch).
    public func resolveIfPresent(_ revision: String) throws(GitError) -> ObjectID? {
        do {
            return try resolve(revision)
        } catch where error.isNotFound || error.code == GIT_EUNBORNBRANCH.rawValue {
            git_error_clear()
            return nil
        }
    }

    /// The object a reference (`HEAD`, `refs/heads/main`) points at, following symbolic
    /// references; nil when there is no such reference or the name is not a valid ref name.
    public func reference(_ name: String) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, name)
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EINVALIDSPEC.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// The references whose names match `glob` (libgit2's glob: `*` also matches `/`), sorted
    /// by name, with the object each points at (symbolic ones followed; annotated tags not
    /// peeled). Dangling symbolic references are left out.
    public func references(matching glob: String) throws(GitError) -> [(name: String, target: ObjectID)] {
        var iterator: OpaquePointer?
        try check(git_reference_iterator_glob_new(&iterator, handle, glob), "git_reference_iterator_glob_new")
        defer { git_reference_iterator_free(iterator) }
        var result: [(name: String, target: ObjectID)] = []
        while true {
            var reference: OpaquePointer?
            let rc = git_reference_next(&reference, iterator)
            if rc == GIT_ITEROVER.rawValue {
                git_error_clear()
                break
            }
            try check(rc, "git_reference_next")
            defer { git_reference_free(reference) }
            let name = String(cString: git_reference_name(reference))
            var resolved: OpaquePointer?
            if git_reference_resolve(&resolved, reference) < 0 {
                git_error_clear()
                continue
            }
            defer { git_reference_free(resolved) }
            if let target = git_reference_target(resolved) {
                result.append((name: name, target: ObjectID(target)))
            }
        }
        return result.sorted { $0.name < $1.name }
    }
}

// MARK: - Commits

extension Repository {
    /// Calls `body` with the looked-up commit, freed afterwards.
    func withCommit<R>(_ id: ObjectID, _ body: (OpaquePointer) throws(GitError) -> R) throws(GitError) -> R {
        var oid = id.oid
        var commit: OpaquePointer?
        try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup")
        defer { git_commit_free(commit) }
        return try body(commit!)
    }

    /// Calls `body` with the root tree of a commit, freed afterwards.
    func withTree<R>(ofCommit id: ObjectID, _ body: (OpaquePointer) throws(GitError) -> R) throws(GitError) -> R {
        try withCommit(id) { (commit: OpaquePointer) throws(GitError) -> R in
            var tree: OpaquePointer?
            try check(git_commit_tree(&tree, commit), "git_commit_tree")
            defer { git_tree_free(tree) }
            return try body(tree!)
        }
    }

    /// The metadata of one commit.
    public func commit(_ id: ObjectID) throws(GitError) -> CommitInfo {
        try withCommit(id) { (commit: OpaquePointer) throws(GitError) -> CommitInfo in
            let parentCount = git_commit_parentcount(commit)
            var parents: [ObjectID] = []
            parents.reserveCapacity(Int(parentCount))
            for index in 0..<parentCount {
                parents.append(ObjectID(git_commit_parent_id(commit, index)!))
            }
            let message = git_commit_message(commit).map { String(cString: $0) } ?? ""
            let summary = git_commit_summary(commit).map { String(cString: $0) } ?? ""
            return CommitInfo(
                id: id, parents: parents, tree: ObjectID(git_commit_tree_id(commit)!),
                author: Signature(git_commit_author(commit)!.pointee),
                committer: Signature(git_commit_committer(commit)!.pointee),
                message: message, summary: summary)
        }
    }

    /// Which commits a range leaves out besides those reachable from the old tip.
    public enum RangeExclusion: Sendable, Hashable {
        /// `git rev-list new ^old --not --all`: also hide everything reachable from any ref.
        /// Right in pre-receive and update hooks, where refs still hold their old values, so a
        /// branch created at an existing commit introduces nothing.
        case oldAndExistingRefs
        /// `git rev-list new ^old`: for post-receive, where refs already point at the new
        /// values (hiding them would hide everything). A creation then lists all of `new`'s
        /// history.
        case oldOnly
    }

    /// The commits a ref update from `old` to `new` brings in, oldest first (parents before
    /// children).
    ///
    /// Handles fast-forwards, force pushes (old not an ancestor of new: only commits not
    /// reachable from old are listed) and merges (both sides of the merge that are new). A
    /// creation (`old` is ``ObjectID/zero``) hides only what `exclusion` says; a deletion
    /// (`new` is zero) introduces nothing.
    public func commitsIntroduced(
        old: ObjectID, new: ObjectID, excluding exclusion: RangeExclusion = .oldAndExistingRefs
    ) throws(GitError) -> [CommitInfo] {
        if new.isZero { return [] }
        var ids: [ObjectID] = []
        try revwalk(
            new: new, hiding: old, sorting: GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_REVERSE.rawValue,
            hidingRefs: exclusion == .oldAndExistingRefs
        ) { id throws(GitError) in
            ids.append(id)
            return true
        }
        var commits: [CommitInfo] = []
        commits.reserveCapacity(ids.count)
        for id in ids { commits.append(try commit(id)) }
        return commits
    }
}

extension Signature {
    init(_ signature: git_signature) {
        self.init(
            name: signature.name.map { String(cString: $0) } ?? "",
            email: signature.email.map { String(cString: $0) } ?? "",
            time: Int(signature.when.time),
            offsetMinutes: Int(signature.when.offset))
    }
}

// MARK: - Ancestry

extension Repository {
    /// Whether the object database holds a commit with this ID.
    public func hasCommit(_ id: ObjectID) -> Bool {
        var oid = id.oid
        var commit: OpaquePointer?
        let rc = git_commit_lookup(&commit, handle, &oid)
        if rc < 0 {
            git_error_clear()
            return false
        }
        git_commit_free(commit)
        return true
    }

    /// Whether `ancestor` is `descendant` itself or in its history (`git merge-base --is-ancestor`).
    /// - Throws: ``GitError`` when either commit is not in the repository.
    public func isAncestor(_ ancestor: ObjectID, of descendant: ObjectID) throws(GitError) -> Bool {
        if ancestor == descendant { return true }
        var a = ancestor.oid
        var d = descendant.oid
        let rc = git_graph_descendant_of(handle, &d, &a)
        if rc < 0 { throw GitError.last(code: rc, function: "git_graph_descendant_of") }
        return rc == 1
    }
}
