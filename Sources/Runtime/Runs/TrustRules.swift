public import Config
public import Git
import Foundation

/// The rules that decide, from the server's side only, which revision of a repository is trusted
/// and what a change under review may touch. Each rule lives here once; ``WorkflowRuns`` applies
/// them for every trigger.
public enum TrustRules {
    // MARK: - Which commit is trusted

    /// The trusted side of a push to `ref`: the ref's tip before the push, or, for a new ref, the
    /// default branch's tip before the push. Role rules see that branch.
    ///
    /// - Parameters:
    ///   - old: the ref's value before the push (zero for a creation).
    ///   - defaultBranch: the configured default branch (`hooks.default-branch`); without one,
    ///     the branch `HEAD` names.
    ///   - pushedAlongside: the other updates of the same push, ref → value before the push
    ///     (after the push, in post-receive, the default branch may already hold pushed commits).
    /// - Returns: the commit and its branch; `commit` is nil when the repository has no branch at
    ///   all yet (its first push: nothing can be trusted, nothing is configured).
    /// - Throws: ``TrustRefusal`` when a new ref has no default branch to be judged by although
    ///   the repository has branches (fail closed), or a Git error.
    public static func trustedSideOfPush(
        in repository: Repository, ref: RefName, old: ObjectID, defaultBranch: String?,
        pushedAlongside: [RefName: ObjectID] = [:]
    ) throws -> (commit: ObjectID?, branch: String) {
        if !old.isZero { return (old, ref.branch ?? "") }
        let branch: RefName
        if let defaultBranch, !defaultBranch.isEmpty {
            branch = .branch(defaultBranch)
        } else if let head = try repository.symbolicTarget("HEAD") {
            branch = RefName(head)
        } else {
            branch = .branch("main")
        }
        if let before = pushedAlongside[branch] {
            // Created by this very push: its pushed commits are not trusted.
            if !before.isZero { return (before, branch.branch ?? "") }
        } else if let tip = try repository.reference(branch.full) {
            return (tip, branch.branch ?? "")
        }
        // No default branch to judge by. Where no branch holds a configuration nothing could be
        // gated (a repository's first pushes); otherwise the push fails closed.
        let existing = try repository.references(matching: "refs/heads/*").filter { pushedAlongside[RefName($0.name)] == nil }
        var configured = false
        for (_, tip) in existing where try repository.entryKind(at: StepgateDirectory.configPath, commit: tip) != nil {
            configured = true
            break
        }
        if !configured { return (nil, branch.branch ?? "") }
        throw TrustRefusal(
            "no trusted configuration for the new ref \(ref.full): the default branch \(branch.full) does not exist; "
                + "set hooks.default-branch to the branch whose .stepgate/ judges new refs")
    }

    /// The branch a local `stepgate run --repo PATH --rev NAME` stands for: NAME (or
    /// `refs/heads/NAME`) only when that branch exists and the commit the tasks run on, the one
    /// NAME resolved to, is its tip. A tag spelled like the branch (which git's lookup prefers),
    /// `main~1` or any other commit is not the branch. Branch-restricted roles are granted only then.
    public static func branch(ofRevision name: String, resolvedTo commit: ObjectID, in repository: Repository) throws(GitError)
        -> String?
    {
        let branch = RefName.branch(name)
        guard let short = branch.branch, !short.isEmpty, let tip = try repository.reference(branch.full), tip == commit else {
            return nil
        }
        return short
    }

    // MARK: - What a change edits

    /// Whether the checkout's `.stepgate/` differs from the trusted side's, decided from the Git
    /// trees (never from a file list the review server or the change supplies).
    ///
    /// The root entries whose names a case-insensitive or Unicode-normalising checkout would
    /// treat as `.stepgate` (`.STEPGATE`, `.stepgate` with an ignorable code point, `.stepgate.`)
    /// are compared, with their tree ids, against the trusted commit's. A change that leaves them
    /// as its base had them (the trusted branch moved on since) does not edit them; anything else
    /// does: a relation chain carrying an earlier change's edit, a merge bringing one in, a rename
    /// out of `.stepgate/`, a case variant.
    public static func editsStepgate(checkout: ObjectID, trusted: ObjectID?, in repository: Repository) throws(GitError) -> Bool {
        let mine = try stepgateEntries(commit: checkout, in: repository)
        guard let trusted else { return !mine.isEmpty }
        if mine == (try stepgateEntries(commit: trusted, in: repository)) { return false }
        if let base = try repository.mergeBase(checkout, trusted), base != trusted {
            return mine != (try stepgateEntries(commit: base, in: repository))
        }
        return true
    }

    /// The root entries that stand for `.stepgate` on some checkout, name → object id.
    static func stepgateEntries(commit: ObjectID, in repository: Repository) throws(GitError) -> [String: ObjectID] {
        var entries: [String: ObjectID] = [:]
        for entry in try repository.rootEntries(commit: commit) where folds(entry.name, to: ".stepgate") {
            entries[entry.name] = entry.id
        }
        return entries
    }

    /// Whether `name` names `target` on a case-insensitive file system that also ignores
    /// default-ignorable code points and trailing dots and spaces (as HFS+ and NTFS do; Git itself
    /// guards `.git` against the same variants).
    static func folds(_ name: String, to target: String) -> Bool {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars where !scalar.properties.isDefaultIgnorableCodePoint {
            scalars.append(scalar)
        }
        var folded = String(scalars).lowercased()
        while folded.hasSuffix(".") || folded.hasSuffix(" ") { folded.removeLast() }
        return folded.precomposedStringWithCanonicalMapping == target
    }

    // MARK: - Where a change starts

    /// Whether a review's base commit lies in the history of the trusted branch tip (a change
    /// that claims another base could pick what it is compared against).
    public static func baseIsTrusted(_ base: ObjectID, tip: ObjectID, in repository: Repository) throws(GitError) -> Bool {
        guard repository.hasCommit(base) else { return false }
        return try repository.isAncestor(base, of: tip)
    }
}

/// Why a run cannot be judged by trusted configuration, said in one line.
public struct TrustRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
