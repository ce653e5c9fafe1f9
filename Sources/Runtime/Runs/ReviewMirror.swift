public import Git

/// The review bot's local copy of a review server's repository: the server's branches (the trusted
/// side) and every review's revision kept under a ref of its own. The bot reaches git only through
/// this type; what a run then reads from the mirror goes through ``WorkflowRuns``.
///
/// Commits are named by their hexadecimal IDs, as the review servers name them. Not Sendable: it
/// holds an open repository; open one where it is used.
public struct ReviewMirror {
    public typealias Credentials = GitCredentials

    /// The bot's credentials for fetching from the review server (never written anywhere).
    public static func credentials(username: String, password: String) -> Credentials {
        GitCredentials(username: username, password: password)
    }

    let repository: Repository

    /// Opens the bare repository at `path`, creating it when missing.
    public init(path: String) throws(GitError) {
        repository = try Repository.openOrCreateMirror(path: path)
    }

    /// Makes the mirror a copy of every branch and change ref at `url` (Gerrit).
    public func update(from url: String, credentials: Credentials?) throws(GitError) {
        _ = try repository.updateMirror(from: url, credentials: credentials)
    }

    /// Fetches `refspecs` from `url`; returns how many references they matched.
    @discardableResult
    public func fetch(_ refspecs: [String], from url: String, credentials: Credentials?) throws(GitError) -> Int {
        try repository.fetch(remoteURL: url, refspecs: refspecs, credentials: credentials).count
    }

    /// The commit `ref` names, nil when the mirror has no such reference.
    public func commit(at ref: String) throws(GitError) -> String? {
        try repository.reference(ref)?.description
    }

    /// The first parent of `commit`, nil for a root commit.
    public func firstParent(of commit: String) throws(GitError) -> String? {
        try repository.commit(Self.id(commit)).parents.first?.description
    }

    /// Where a Gerrit patch set is kept: `refs/changes/NN/N/P`'s local name.
    public static func patchSetRef(change: Int, patchSet: Int) -> String {
        Repository.localPatchSetRef(change: change, patchSet: patchSet)
    }

    /// Fetches a Gerrit patch set's ref from `serverGitURL/project`; returns its commit.
    public func fetchPatchSet(
        serverGitURL: String, project: String, change: Int, patchSet: Int, credentials: Credentials?
    ) throws(GitError) -> String {
        try repository.fetchGerritPatchSet(
            serverGitURL: serverGitURL, project: project, change: change, patchSet: patchSet, credentials: credentials
        ).description
    }

    /// The lowercase commit ID `text` spells, nil when it is not one.
    public static func commitID(_ text: String) -> String? { ObjectID(hex: text)?.description }

    /// Whether `base` lies in the history of `tip` (trust rule 1: a review's base must be on the
    /// trusted branch, or the change could pick what it is compared against).
    public func isInHistory(_ base: String, of tip: String) throws(GitError) -> Bool {
        guard let base = ObjectID(hex: base) else { return false }
        return try TrustRules.baseIsTrusted(base, tip: Self.id(tip), in: repository)
    }

    /// A patch applied onto a commit, not yet committed.
    public struct AppliedPatch: Sendable {
        let tree: ObjectID
        let base: ObjectID
    }

    /// Why a patch does not apply, in git's words.
    public struct PatchDoesNotApply: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Applies `patch` (a unified diff) onto `base`.
    public func apply(_ patch: String, onto base: String) throws(PatchDoesNotApply) -> AppliedPatch {
        do {
            let parent = try Self.id(base)
            return AppliedPatch(tree: try repository.applyDiff(patch, onto: parent), base: parent)
        } catch {
            throw PatchDoesNotApply(description: error.message)
        }
    }

    /// Commits `applied` with `message` as `stepgate <stepgate@localhost>` at `time` (seconds since
    /// the epoch, so the same diff always makes the same commit) and keeps it under `ref`; returns
    /// the commit.
    public func keep(_ applied: AppliedPatch, message: String, time: Int, under ref: String) throws(GitError) -> String {
        let signature = Signature(name: "stepgate", email: "stepgate@localhost", time: time, offsetMinutes: 0)
        let commit = try repository.commit(tree: applied.tree, parents: [applied.base], message: message, author: signature)
        let summary = message.split(separator: "\n").first.map(String.init) ?? ""
        try repository.setReference(name: ref, to: commit, force: true, logMessage: "stepgate: " + summary)
        return commit.description
    }

    static func id(_ text: String) throws(GitError) -> ObjectID {
        guard let id = ObjectID(hex: text) else {
            throw GitError(code: -1, errorClass: 0, message: "'\(text)' is not a commit ID", function: "ReviewMirror")
        }
        return id
    }
}
