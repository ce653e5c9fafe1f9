/// Who made a commit and when, as recorded in the commit object.
///
/// Commit metadata is chosen by whoever wrote the commit: never use it to identify a pusher.
public struct Signature: Sendable, Hashable {
    public let name: String
    public let email: String
    /// Seconds since the Unix epoch.
    public let time: Int
    /// The author's UTC offset in minutes (e.g. 120 for +0200).
    public let offsetMinutes: Int

    public init(name: String, email: String, time: Int, offsetMinutes: Int) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}

/// The metadata of one commit, copied out of libgit2.
public struct CommitInfo: Sendable, Hashable {
    public let id: ObjectID
    /// Parent IDs in order; the first parent is the branch the commit was made on.
    public let parents: [ObjectID]
    public let tree: ObjectID
    public let author: Signature
    public let committer: Signature
    /// The full message (libgit2 strips leading blank lines).
    public let message: String
    /// The first paragraph of the message on one line.
    public let summary: String

    public init(
        id: ObjectID, parents: [ObjectID], tree: ObjectID, author: Signature, committer: Signature,
        message: String, summary: String
    ) {
        self.id = id
        self.parents = parents
        self.tree = tree
        self.author = author
        self.committer = committer
        self.message = message
        self.summary = summary
    }
}

/// One entry of a tree-to-tree diff.
public struct ChangedPath: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case added, modified, deleted, renamed, copied, typeChanged
        /// A delta kind this layer does not classify (libgit2's unreadable or conflicted states).
        case other
    }

    /// The path after the change; for a deletion, the path that was deleted.
    public let path: String
    /// The path before the change; nil for an addition. Differs from ``path`` for renames and copies.
    public let oldPath: String?
    public let status: Status
    /// The blob before the change (``ObjectID/zero`` for an addition).
    public let oldID: ObjectID
    /// The blob after the change (``ObjectID/zero`` for a deletion).
    public let newID: ObjectID

    public init(path: String, oldPath: String?, status: Status, oldID: ObjectID, newID: ObjectID) {
        self.path = path
        self.oldPath = oldPath
        self.status = status
        self.oldID = oldID
        self.newID = newID
    }
}

/// The kind of a tree entry, from its git file mode.
public enum EntryKind: Sendable, Hashable {
    case file
    case executable
    case symlink
    case directory
    case submodule
}
