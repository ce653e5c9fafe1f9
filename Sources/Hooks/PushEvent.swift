public import Config
public import Git
public import StatesLanguage
internal import Foundation
internal import YAMLLoader

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

    /// `{"trigger", "ref", "old", "new", "pusher", "repository", "commits": [...]}` merged with
    /// the template (whose members win).
    ///
    /// When the full commit list would exceed the 256 KiB payload limit, messages are cut to
    /// their summaries and file lists dropped (`"commitsCompacted": true`); nil when even that
    /// is too large.
    public static func input(
        trigger: String, update: RefUpdate, pusher: String?, repository: String,
        commits: [(commit: CommitInfo, files: [String])], template: JSONObject?
    ) -> JSON? {
        for compact in [false, true] {
            var o = JSONObject()
            o["trigger"] = .string(trigger)
            o["ref"] = .string(update.ref)
            o["old"] = .string(update.old.description)
            o["new"] = .string(update.new.description)
            o["pusher"] = pusher.map(JSON.string) ?? .null
            o["repository"] = .string(repository)
            o["commits"] = .array(commits.map { commitJSON($0.commit, files: $0.files, compact: compact) })
            if compact { o["commitsCompacted"] = .bool(true) }
            for (key, value) in template?.pairs ?? JSONObject().pairs { o[key] = value }
            let value = JSON.object(o)
            if value.serialized.utf8.count <= payloadLimit { return value }
        }
        return nil
    }

    /// The commits that enter `update.ref` with the push, oldest first, each with the paths it
    /// changed: `old..new` for an update (a force push: what `new` has that `old` had not), and
    /// for a new ref what `new` has beyond the trusted base that judges it (the default branch's
    /// tip); a deletion brings none. Commits that reached the repository earlier through another
    /// ref are included: a gate sees everything its ref receives.
    public static func commitsEntering(_ update: RefUpdate, in repository: Repository, trustedBase: ObjectID?) throws(GitError)
        -> [(commit: CommitInfo, files: [String])]
    {
        if update.isDeletion { return [] }
        let hidden = update.isCreation ? (trustedBase ?? .zero) : update.old
        let commits = try repository.commitsIntroduced(old: hidden, new: update.new, excluding: .oldOnly)
        var result: [(commit: CommitInfo, files: [String])] = []
        result.reserveCapacity(commits.count)
        for commit in commits {
            result.append((commit, try repository.changedPaths(in: commit).map(\.path)))
        }
        return result
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
