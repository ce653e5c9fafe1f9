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
        // libgit2 1.5 cannot parse the hunk-less sections git writes for empty files
        // (libgit2#5713, #6778): take them out and apply them to the index ourselves.
        let (text, emptyFiles) = EmptyFileChange.extract(from: patch)
        var diff: OpaquePointer?
        let parseRC = text.utf8CString.withUnsafeBufferPointer { buffer in
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
            // libgit2 silently overwrites a file the patch says it creates; git refuses.
            try Repository.refuseExistingTargets(diff: diff!, tree: tree, emptyFiles: emptyFiles)

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
            if !emptyFiles.isEmpty {
                try applyEmptyFileChanges(emptyFiles, to: index!)
            }
            var oid = git_oid()
            try check(git_index_write_tree_to(&oid, index, handle), "git_index_write_tree_to")
            return ObjectID(oid)
        }
    }

    private static func applyFailure(_ path: String, _ reason: String) -> GitError {
        GitError(
            code: GitError.applyFailureCode, errorClass: Int32(GIT_ERROR_PATCH.rawValue),
            message: "patch does not apply to \(path): \(reason)", function: "git_apply_to_tree")
    }

    /// Throws when the patch creates (or renames or copies onto) a path the base tree already
    /// has, unless the patch also removes that path.
    private static func refuseExistingTargets(
        diff: OpaquePointer, tree: OpaquePointer, emptyFiles: [EmptyFileChange]
    ) throws(GitError) {
        var created: [String] = []
        var vacated: Set<String> = []
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
            let oldPath = delta.old_file.path.map { String(cString: $0) }
            let newPath = delta.new_file.path.map { String(cString: $0) }
            switch delta.status {
            case GIT_DELTA_ADDED, GIT_DELTA_COPIED:
                if let newPath { created.append(newPath) }
            case GIT_DELTA_RENAMED:
                if let newPath { created.append(newPath) }
                if let oldPath { vacated.insert(oldPath) }
            case GIT_DELTA_DELETED:
                if let oldPath { vacated.insert(oldPath) }
            default: break
            }
        }
        for change in emptyFiles {
            switch change {
            case .add(let path, _): created.append(path)
            case .delete(let path): vacated.insert(path)
            }
        }
        for path in created where !vacated.contains(path) {
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, tree, path)
            if rc == GIT_ENOTFOUND.rawValue {
                git_error_clear()
                continue
            }
            try check(rc, "git_tree_entry_bypath")
            git_tree_entry_free(entry)
            throw applyFailure(path, "already exists in the base tree")
        }
    }

    private func applyEmptyFileChanges(_ changes: [EmptyFileChange], to index: OpaquePointer) throws(GitError) {
        var empty = git_oid()
        var byte: UInt8 = 0
        try check(git_blob_create_from_buffer(&empty, handle, &byte, 0), "git_blob_create_from_buffer")
        for change in changes {
            switch change {
            case .add(let path, let mode):
                var entry = git_index_entry()
                entry.mode = mode
                entry.id = empty
                let rc = path.withCString { cPath in
                    entry.path = cPath
                    return git_index_add(index, &entry)
                }
                try check(rc, "git_index_add")
            case .delete(let path):
                guard let existing = git_index_get_bypath(index, path, 0) else {
                    throw Repository.applyFailure(path, "does not exist in the base tree")
                }
                var existingID = existing.pointee.id
                guard git_oid_equal(&existingID, &empty) != 0 else {
                    throw Repository.applyFailure(path, "the patch deletes it as an empty file, but it is not empty")
                }
                try check(git_index_remove(index, path, 0), "git_index_remove")
            }
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

/// A hunk-less section of a git diff that creates or deletes an empty file.
enum EmptyFileChange: Equatable {
    case add(path: String, mode: UInt32)
    case delete(path: String)

    /// Splits `patch` at its `diff --git` lines and takes out the sections that only create or
    /// delete an empty file (a header ending with its `index` line, no `---`/`+++`, no hunk).
    static func extract(from patch: String) -> (patch: String, changes: [EmptyFileChange]) {
        guard patch.contains("new file mode") || patch.contains("deleted file mode") else { return (patch, []) }
        var lines = patch.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var kept: [Substring] = []
        var changes: [EmptyFileChange] = []
        var start = 0
        while start < lines.count {
            var end = start + 1
            while end < lines.count && !lines[end].hasPrefix("diff --git ") { end += 1 }
            let section = lines[start..<end]
            if let change = emptyFileChange(section) {
                changes.append(change)
            } else {
                kept.append(contentsOf: section)
            }
            start = end
        }
        let text = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
        return (text, changes)
    }

    private static func emptyFileChange(_ section: ArraySlice<Substring>) -> EmptyFileChange? {
        guard let first = section.first, first.hasPrefix("diff --git a/"),
            section.count >= 3, section.last?.hasPrefix("index ") == true
        else { return nil }
        let header = section.dropFirst().dropLast()
        guard header.allSatisfy({ $0.hasPrefix("new file mode ") || $0.hasPrefix("deleted file mode ") }),
            header.count == 1, let modeLine = header.first
        else { return nil }
        // "diff --git a/P b/P" with the same P on both sides (an addition or a deletion).
        let rest = first.dropFirst("diff --git a/".count)
        guard rest.count > 3, (rest.count - 3) % 2 == 0 else { return nil }
        let path = rest.prefix((rest.count - 3) / 2)
        guard rest.dropFirst(path.count) == " b/" + path, !path.isEmpty else { return nil }
        if modeLine.hasPrefix("new file mode ") {
            guard let mode = UInt32(modeLine.dropFirst("new file mode ".count), radix: 8) else { return nil }
            return .add(path: String(path), mode: mode)
        }
        return .delete(path: String(path))
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
