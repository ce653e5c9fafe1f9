public import Config
public import Git
public import StatesLanguage
internal import Foundation
internal import YAMLLoader

/// The commits a push brings into a ref: the newest ones in full, and how many there are in all.
public struct EnteringCommits: Sendable {
    /// The newest commits (at most ``PushEvent/commitWindow``), oldest first, with the paths each changed.
    public var commits: [(commit: CommitInfo, files: [String])]
    /// Every entering commit, those not listed included.
    public var total: Int

    public var isComplete: Bool { commits.count == total }
}

/// The input an execution started by a push sees (a pre-receive gate or a post-receive push
/// workflow), before the workflow's `input` template is merged in.
public enum PushEvent {
    /// AWS's payload limit; a larger gate input would fail in the engine.
    static let payloadLimit = 262_144

    static func commitJSON(_ commit: CommitInfo, files: [String], compact: Bool) -> JSON {
        func person(_ s: Signature) -> JSON {
            .object(JSONObject([("name", .string(s.name)), ("email", .string(s.email))]))
        }
        var o = JSONObject()
        o["id"] = .string(commit.id.description)
        o["author"] = person(commit.author)
        o["committer"] = person(commit.committer)
        o["message"] = .string(compact ? commit.summary : commit.message)
        if !compact { o["files"] = .array(files.map(JSON.string)) }
        return .object(o)
    }

    /// `{"trigger", "ref", "old", "new", "pusher", "repository", "commits": [...], "commitCount",
    /// "commitsComplete"}` merged with the template (whose members win).
    ///
    /// `commits` lists the newest entering commits, oldest first; `commitCount` counts all of them
    /// and `commitsComplete` says whether the list holds every one. Within AWS's 256 KiB payload
    /// limit, messages are cut to their summaries and file lists dropped first
    /// (`"commitsCompacted": true`), then older commits left out; nil only when the template alone
    /// is too large.
    public static func input(
        trigger: String, update: RefUpdate, pusher: String?, repository: String, commits entering: EnteringCommits,
        template: JSONObject?
    ) -> JSON? {
        var listed = entering.commits[...]
        var compact = false
        while true {
            var o = JSONObject()
            o["trigger"] = .string(trigger)
            o["ref"] = .string(update.ref)
            o["old"] = .string(update.old.description)
            o["new"] = .string(update.new.description)
            o["pusher"] = pusher.map(JSON.string) ?? .null
            o["repository"] = .string(repository)
            o["commits"] = .array(listed.map { commitJSON($0.commit, files: $0.files, compact: compact) })
            o["commitCount"] = .int(entering.total)
            o["commitsComplete"] = .bool(listed.count == entering.total)
            if compact { o["commitsCompacted"] = .bool(true) }
            for (key, value) in template?.pairs ?? JSONObject().pairs { o[key] = value }
            let value = JSON.object(o)
            if value.serialized.utf8.count <= payloadLimit { return value }
            if !compact {
                compact = true
            } else if listed.isEmpty {
                return nil
            } else {
                listed = listed.suffix(listed.count / 2)
            }
        }
    }

    /// How many entering commits a workflow's input lists (the newest ones); the rest are counted.
    public static let commitWindow = 1000

    /// The commits that enter `update.ref` with the push: `old..new` for an update (a force push:
    /// what `new` has that `old` had not), and for a new ref what `new` has beyond the trusted base
    /// that judges it (the default branch's tip); a deletion brings none. Commits that reached the
    /// repository earlier through another ref are included: a gate sees everything its ref receives.
    ///
    /// The walk streams: only the newest `window` commits are read (with the paths each changed),
    /// oldest first; the others are only counted, so a push of any size costs memory for the window.
    public static func commitsEntering(
        _ update: RefUpdate, in repository: Repository, trustedBase: ObjectID?, window: Int = commitWindow
    ) throws(GitError) -> EnteringCommits {
        if update.isDeletion { return EnteringCommits(commits: [], total: 0) }
        let hidden = update.isCreation ? trustedBase : update.old
        var ids: [ObjectID] = []
        let total = try repository.walkCommits(new: update.new, hiding: hidden) { (id: ObjectID) throws(GitError) -> Bool in
            if ids.count < window { ids.append(id) }
            return true
        }
        var commits: [(commit: CommitInfo, files: [String])] = []
        commits.reserveCapacity(ids.count)
        for id in ids.reversed() {
            let commit = try repository.commit(id)
            commits.append((commit, try repository.changedPaths(in: commit).map(\.path)))
        }
        return EnteringCommits(commits: commits, total: total)
    }

    /// The repository's name for inputs: its directory name without `.git`.
    public static func repositoryName(_ repository: Repository) -> String {
        var name = repository.path
        while name.hasSuffix("/") { name.removeLast() }
        name = String(name.split(separator: "/").last ?? Substring(name))
        if name == ".git" {
            let parent = repository.path.split(separator: "/").dropLast().last.map(String.init)
            return parent ?? name
        }
        if name.hasSuffix(".git") { name.removeLast(4) }
        return name
    }
}
