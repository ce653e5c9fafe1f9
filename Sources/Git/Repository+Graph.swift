internal import CLibgit2

// MARK: - History relations and top-level entries

/// One entry of a commit's root tree.
public struct RootEntry: Sendable, Hashable {
    public var name: String
    public var id: ObjectID
    public var kind: EntryKind?

    public init(name: String, id: ObjectID, kind: EntryKind?) {
        self.name = name
        self.id = id
        self.kind = kind
    }
}

extension Repository {
    /// The best common ancestor of two commits (`git merge-base a b`); nil when they share no history.
    public func mergeBase(_ a: ObjectID, _ b: ObjectID) throws(GitError) -> ObjectID? {
        var out = git_oid()
        var one = a.oid
        var two = b.oid
        let rc = git_merge_base(&out, handle, &one, &two)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_merge_base")
        return ObjectID(out)
    }

    /// The ref a symbolic reference points to (`refs/heads/main` for `HEAD`), whether or not that
    /// ref exists yet; nil when `name` is absent or not symbolic.
    public func symbolicTarget(_ name: String) throws(GitError) -> String? {
        var reference: OpaquePointer?
        let rc = git_reference_lookup(&reference, handle, name)
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EINVALIDSPEC.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_reference_lookup")
        defer { git_reference_free(reference) }
        return git_reference_symbolic_target(reference).map { String(cString: $0) }
    }

    /// The entries of a commit's root tree, in Git's order.
    public func rootEntries(commit: ObjectID) throws(GitError) -> [RootEntry] {
        try withTree(ofCommit: commit) { (tree: OpaquePointer) throws(GitError) -> [RootEntry] in
            var entries: [RootEntry] = []
            for index in 0..<git_tree_entrycount(tree) {
                guard let entry = git_tree_entry_byindex(tree, index) else { continue }
                entries.append(
                    RootEntry(
                        name: String(cString: git_tree_entry_name(entry)), id: ObjectID(git_tree_entry_id(entry)!),
                        kind: EntryKind(git_tree_entry_filemode(entry))))
            }
            return entries
        }
    }

    /// Visits the commits `new` has that `old` has not (`git rev-list new ^old`), newest first,
    /// streaming: nothing is kept between visits, so memory does not grow with the range. `visit`
    /// returns false to stop early.
    /// - Returns: how many commits were visited.
    @discardableResult
    public func walkCommits(new: ObjectID, hiding old: ObjectID?, _ visit: (ObjectID) throws(GitError) -> Bool) throws(GitError)
        -> Int
    {
        try revwalk(new: new, hiding: old, sorting: GIT_SORT_NONE.rawValue, hidingRefs: false, visit)
    }

    /// One libgit2 revision walk from `new`, hiding `old` (and every ref when `hidingRefs`), sorted as
    /// `sorting` says; `visit` sees each commit and returns false to stop. Returns how many it saw.
    @discardableResult
    func revwalk(
        new: ObjectID, hiding old: ObjectID?, sorting: UInt32, hidingRefs: Bool, _ visit: (ObjectID) throws(GitError) -> Bool
    ) throws(GitError) -> Int {
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "git_revwalk_new")
        defer { git_revwalk_free(walk) }
        // Set once with OR-ed flags: a second call would replace the first.
        try check(git_revwalk_sorting(walk, sorting), "git_revwalk_sorting")
        var newOID = new.oid
        try check(git_revwalk_push(walk, &newOID), "git_revwalk_push")
        if let old, !old.isZero {
            var oldOID = old.oid
            try check(git_revwalk_hide(walk, &oldOID), "git_revwalk_hide")
        }
        if hidingRefs {
            try check(git_revwalk_hide_glob(walk, "refs/*"), "git_revwalk_hide_glob")
        }
        var count = 0
        var oid = git_oid()
        while true {
            let rc = git_revwalk_next(&oid, walk)
            if rc == GIT_ITEROVER.rawValue {
                git_error_clear()
                break
            }
            try check(rc, "git_revwalk_next")
            count += 1
            if try !visit(ObjectID(oid)) { break }
        }
        return count
    }
}
