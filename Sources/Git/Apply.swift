internal import CLibgit2

/// State shared with the apply callbacks, passed through their `void *payload`.
private final class ApplyContext {
    /// The file libgit2 was working on last (the one that failed, when applying fails).
    var currentPath: String?
}

extension Repository {
    /// Applies a git-style unified diff (`git diff`, `git format-patch` body, Phorge's
    /// `differential.getrawdiff`) to a commit's tree in memory and writes the resulting tree
    /// into the object database. No work tree, index, HEAD or reference is touched.
    ///
    /// Handles modified, added (`new file mode`, `--- /dev/null`), deleted, renamed
    /// (`rename from`/`rename to`, with or without hunks) and mode-changed files, and git
    /// binary patches.
    /// - Parameters:
    ///   - patch: the diff text; paths carry git's `a/` and `b/` prefixes.
    ///   - base: the commit (or tree) the diff was made against.
    /// - Returns: the ID of the resulting tree; combine it with
    ///   ``commit(tree:parents:message:author:committer:)``.
    /// - Throws: ``GitError``: for a diff that cannot be parsed, `invalid patch: ...`; for
    ///   one that does not apply, `patch does not apply to <path>: ...` (code `-35`,
    ///   ``GitError/isApplyFailure``).
    public func applyDiff(_ patch: String, onto base: ObjectID) throws(GitError) -> ObjectID {
        var diff: OpaquePointer?
        let parseRC = patch.utf8CString.withUnsafeBufferPointer { buffer in
            // The count excludes the terminating NUL.
            git_diff_from_buffer(&diff, buffer.baseAddress, buffer.count - 1)
        }
        if parseRC < 0 {
            let error = GitError.last(code: parseRC, function: "git_diff_from_buffer")
            throw GitError(
                code: parseRC, errorClass: error.errorClass, message: "invalid patch: \(error.message)",
                function: "git_diff_from_buffer")
        }
        defer { git_diff_free(diff) }

        return try withPeeledTree(base) { (tree: OpaquePointer) throws(GitError) -> ObjectID in
            var options = git_apply_options()
            try check(
                git_apply_options_init(&options, UInt32(GIT_APPLY_OPTIONS_VERSION)), "git_apply_options_init")
            let context = ApplyContext()
            let payload = Unmanaged.passRetained(context)
            defer { payload.release() }
            options.payload = payload.toOpaque()
            options.delta_cb = { delta, payload in
                guard let payload, let delta else { return 0 }
                let context = Unmanaged<ApplyContext>.fromOpaque(payload).takeUnretainedValue()
                let file = delta.pointee.new_file.path ?? delta.pointee.old_file.path
                context.currentPath = file.map { String(cString: $0) }
                return 0
            }

            var index: OpaquePointer?
            let rc = git_apply_to_tree(&index, handle, tree, diff, &options)
            if rc < 0 {
                let error = GitError.last(code: rc, function: "git_apply_to_tree")
                let path = context.currentPath.map { " to \($0)" } ?? ""
                throw GitError(
                    code: rc, errorClass: error.errorClass, message: "patch does not apply\(path): \(error.message)",
                    function: "git_apply_to_tree")
            }
            defer { git_index_free(index) }
            var oid = git_oid()
            try check(git_index_write_tree_to(&oid, index, handle), "git_index_write_tree_to")
            return ObjectID(oid)
        }
    }

    /// Calls `body` with the tree `id` names, peeling a commit (or tag) to its tree.
    func withPeeledTree<R>(_ id: ObjectID, _ body: (OpaquePointer) throws(GitError) -> R) throws(GitError) -> R {
        var oid = id.oid
        var object: OpaquePointer?
        try check(git_object_lookup(&object, handle, &oid, GIT_OBJECT_ANY), "git_object_lookup")
        defer { git_object_free(object) }
        var tree: OpaquePointer?
        try check(git_object_peel(&tree, object, GIT_OBJECT_TREE), "git_object_peel")
        defer { git_object_free(tree) }
        return try body(tree!)
    }
}

extension GitError {
    /// libgit2's `GIT_EAPPLYFAIL`: a patch did not apply.
    public static let applyFailureCode: Int32 = -35

    /// True when a patch did not apply to the tree it was applied to.
    public var isApplyFailure: Bool { code == GitError.applyFailureCode }
}

// MARK: - Writing commits and references

extension Repository {
    /// Writes a commit object and returns its ID, without touching HEAD, the index, the work
    /// tree or any reference (point one at it with ``setReference(name:to:force:logMessage:)``).
    ///
    /// The signatures' times are used as given, so the same inputs always give the same ID.
    /// - Parameters:
    ///   - tree: the commit's root tree.
    ///   - parents: parent commits, first parent first; empty for a root commit.
    ///   - message: the full message (written as given; end it with a newline as git does).
    ///   - author: the author.
    ///   - committer: the committer; nil uses `author`.
    public func commit(
        tree: ObjectID, parents: [ObjectID], message: String, author: Signature, committer: Signature? = nil
    ) throws(GitError) -> ObjectID {
        var treeOID = tree.oid
        var treePointer: OpaquePointer?
        try check(git_tree_lookup(&treePointer, handle, &treeOID), "git_tree_lookup")
        defer { git_tree_free(treePointer) }

        var parentPointers: [OpaquePointer?] = []
        defer { for parent in parentPointers { git_commit_free(parent) } }
        for parent in parents {
            var oid = parent.oid
            var pointer: OpaquePointer?
            try check(git_commit_lookup(&pointer, handle, &oid), "git_commit_lookup")
            parentPointers.append(pointer)
        }

        let authorSignature = try Repository.makeSignature(author)
        defer { git_signature_free(authorSignature) }
        let committerSignature = try Repository.makeSignature(committer ?? author)
        defer { git_signature_free(committerSignature) }

        var oid = git_oid()
        let count = parentPointers.count
        let rc = parentPointers.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(
                &oid, handle, nil, authorSignature, committerSignature, nil, message, treePointer, count,
                buffer.baseAddress)
        }
        try check(rc, "git_commit_create")
        return ObjectID(oid)
    }

    private static func makeSignature(_ signature: Signature) throws(GitError) -> UnsafeMutablePointer<git_signature> {
        var pointer: UnsafeMutablePointer<git_signature>?
        try check(
            git_signature_new(
                &pointer, signature.name, signature.email, git_time_t(signature.time), Int32(signature.offsetMinutes)),
            "git_signature_new")
        return pointer!
    }

    /// Points the direct reference `name` (a full name, `refs/...`) at `target`.
    /// - Parameters:
    ///   - force: replace an existing reference; without it an existing one is an error
    ///     (code `-4`, `GIT_EEXISTS`).
    ///   - logMessage: the reflog message, where the repository keeps reflogs.
    public func setReference(
        name: String, to target: ObjectID, force: Bool, logMessage: String? = nil
    ) throws(GitError) {
        var oid = target.oid
        var reference: OpaquePointer?
        try check(
            git_reference_create(&reference, handle, name, &oid, force ? 1 : 0, logMessage), "git_reference_create")
        git_reference_free(reference)
    }

    /// Deletes the reference `name`; returns false when there was none.
    @discardableResult
    public func deleteReference(name: String) throws(GitError) -> Bool {
        var reference: OpaquePointer?
        let rc = git_reference_lookup(&reference, handle, name)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return false
        }
        try check(rc, "git_reference_lookup")
        defer { git_reference_free(reference) }
        try check(git_reference_delete(reference), "git_reference_delete")
        return true
    }
}
