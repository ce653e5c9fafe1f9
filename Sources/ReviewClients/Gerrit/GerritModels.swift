// Codable models of Gerrit 3.10's REST entities, with Gerrit's own JSON names. Fields Gerrit leaves out
// (options not requested, `false` flags) are optional. The string-valued `RawRepresentable` types
// encode as their raw value through the standard library's default `Codable` conformance.

/// A change's status: `NEW`, `MERGED` or `ABANDONED`.
public struct ChangeStatus: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let new = ChangeStatus(rawValue: "NEW")
    public static let merged = ChangeStatus(rawValue: "MERGED")
    public static let abandoned = ChangeStatus(rawValue: "ABANDONED")
    public var isOpen: Bool { self == .new }
    public var description: String { rawValue }
}

/// An account as Gerrit shows it; `name`, `email` and `username` need `DETAILED_ACCOUNTS` in queries.
public struct AccountInfo: Codable, Hashable, Sendable {
    public var accountID: Int?
    public var name: String?
    public var displayName: String?
    public var email: String?
    public var username: String?

    public init(accountID: Int?, name: String? = nil, email: String? = nil, username: String? = nil) {
        self.accountID = accountID
        self.name = name
        self.email = email
        self.username = username
    }

    enum CodingKeys: String, CodingKey {
        case accountID = "_account_id"
        case name, email, username
        case displayName = "display_name"
    }
}

/// `{min, max}` of the votes an account may cast on a label.
public struct VotingRangeInfo: Codable, Hashable, Sendable {
    public var min: Int
    public var max: Int
    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }
}

/// One entry of `LabelInfo.all`: an account and its vote (`value` 0 or absent when it did not vote on this label).
public struct ApprovalInfo: Codable, Hashable, Sendable {
    public var accountID: Int?
    public var name: String?
    public var email: String?
    public var username: String?
    public var value: Int?
    public var date: GerritTimestamp?
    public var tag: String?
    public var postSubmit: Bool?
    public var permittedVotingRange: VotingRangeInfo?

    /// The account part of this approval.
    public var account: AccountInfo {
        AccountInfo(accountID: accountID, name: name, email: email, username: username)
    }

    enum CodingKeys: String, CodingKey {
        case accountID = "_account_id"
        case name, email, username, value, date, tag
        case postSubmit = "post_submit"
        case permittedVotingRange = "permitted_voting_range"
    }
}

/// A label on a change (`labels.<Name>`); `all` and `values` need `DETAILED_LABELS`.
public struct LabelInfo: Codable, Hashable, Sendable {
    public var approved: AccountInfo?
    public var rejected: AccountInfo?
    public var recommended: AccountInfo?
    public var disliked: AccountInfo?
    public var blocking: Bool?
    public var optional: Bool?
    public var value: Int?
    public var defaultValue: Int?
    public var all: [ApprovalInfo]?
    /// `{"-1": "Fails", " 0": "No score", "+1": "Verified"}`: note the leading space of `" 0"`.
    public var values: [String: String]?

    /// The real votes (non-zero values) in `all`.
    public var votes: [ApprovalInfo] { (all ?? []).filter { ($0.value ?? 0) != 0 } }

    /// The allowed values, parsed from the keys of `values` (`"+1"`, `" 0"`, `"-2"`), sorted.
    public var allowedValues: [Int] {
        (values ?? [:]).keys.compactMap { Int($0.trimmingSpaces().replacingAll("+", with: "")) }.sorted()
    }

    enum CodingKeys: String, CodingKey {
        case approved, rejected, recommended, disliked, blocking, optional, value, all, values
        case defaultValue = "default_value"
    }
}

/// A file of a revision: `status` is absent for a modification, else `A`, `D`, `R`, `C` or `W`.
public struct FileInfo: Codable, Hashable, Sendable {
    public var status: String?
    public var binary: Bool?
    public var oldPath: String?
    public var linesInserted: Int?
    public var linesDeleted: Int?
    public var sizeDelta: Int?
    public var size: Int?

    enum CodingKeys: String, CodingKey {
        case status, binary, size
        case oldPath = "old_path"
        case linesInserted = "lines_inserted"
        case linesDeleted = "lines_deleted"
        case sizeDelta = "size_delta"
    }
}

/// Author or committer of a commit.
public struct GitPersonInfo: Codable, Hashable, Sendable {
    public var name: String
    public var email: String
    public var date: GerritTimestamp?
    public var tz: Int?
}

/// A parent in `CommitInfo.parents`.
public struct ParentCommitInfo: Codable, Hashable, Sendable {
    public var commit: String
    public var subject: String?
}

/// A commit (`CURRENT_COMMIT`).
public struct CommitInfo: Codable, Hashable, Sendable {
    public var commit: String?
    public var parents: [ParentCommitInfo]?
    public var author: GitPersonInfo?
    public var committer: GitPersonInfo?
    public var subject: String?
    public var message: String?
}

/// A patch set.
public struct RevisionInfo: Codable, Hashable, Sendable {
    public var kind: String?
    public var number: Int
    public var created: GerritTimestamp?
    public var uploader: AccountInfo?
    /// `refs/changes/01/1/1`; fetch it from the project's git URL (``GerritClient/gitURL(project:)``).
    public var ref: String
    public var commit: CommitInfo?
    public var files: [String: FileInfo]?

    enum CodingKeys: String, CodingKey {
        case kind, created, uploader, ref, commit, files
        case number = "_number"
    }
}

/// A message on a change (`MESSAGES`).
public struct ChangeMessageInfo: Codable, Hashable, Sendable {
    public var id: String
    public var author: AccountInfo?
    public var realAuthor: AccountInfo?
    public var date: GerritTimestamp
    public var message: String
    public var tag: String?
    public var revisionNumber: Int?

    enum CodingKeys: String, CodingKey {
        case id, author, date, message, tag
        case realAuthor = "real_author"
        case revisionNumber = "_revision_number"
    }
}

/// A change as `GET /changes/` and `GET /changes/{id}` return it.
public struct ChangeInfo: Codable, Hashable, Sendable {
    /// `"project~number"` in Gerrit 3.10.
    public var id: String
    public var tripletID: String?
    public var project: String
    public var branch: String
    public var changeID: String
    public var subject: String
    public var status: ChangeStatus
    public var topic: String?
    public var owner: AccountInfo
    public var created: GerritTimestamp?
    public var updated: GerritTimestamp
    public var insertions: Int?
    public var deletions: Int?
    public var number: Int
    public var currentRevisionNumber: Int?
    public var currentRevision: String?
    public var revisions: [String: RevisionInfo]?
    public var labels: [String: LabelInfo]?
    public var permittedLabels: [String: [String]]?
    public var messages: [ChangeMessageInfo]?
    public var workInProgress: Bool?
    public var isPrivate: Bool?
    public var metaRevID: String?
    /// Set on the last element of a query page when more results exist.
    public var moreChanges: Bool?

    /// The current patch set, when `CURRENT_REVISION` or `ALL_REVISIONS` was requested.
    public var currentRevisionInfo: RevisionInfo? {
        currentRevision.flatMap { revisions?[$0] }
    }

    enum CodingKeys: String, CodingKey {
        case id, project, branch, subject, status, topic, owner, created, updated, insertions, deletions
        case revisions, labels, messages
        case tripletID = "triplet_id"
        case changeID = "change_id"
        case number = "_number"
        case currentRevisionNumber = "current_revision_number"
        case currentRevision = "current_revision"
        case permittedLabels = "permitted_labels"
        case workInProgress = "work_in_progress"
        case isPrivate = "is_private"
        case metaRevID = "meta_rev_id"
        case moreChanges = "_more_changes"
    }
}

/// `{start_line, start_character, end_line, end_character}`: 1-based lines, 0-based characters, end exclusive.
public struct CommentRange: Codable, Hashable, Sendable {
    public var startLine: Int
    public var startCharacter: Int
    public var endLine: Int
    public var endCharacter: Int

    public init(startLine: Int, startCharacter: Int, endLine: Int, endCharacter: Int) {
        self.startLine = startLine
        self.startCharacter = startCharacter
        self.endLine = endLine
        self.endCharacter = endCharacter
    }

    enum CodingKeys: String, CodingKey {
        case startLine = "start_line"
        case startCharacter = "start_character"
        case endLine = "end_line"
        case endCharacter = "end_character"
    }
}

/// A comment to publish with a review: on a line, on a range, or (neither) on the whole file.
public struct CommentInput: Codable, Hashable, Sendable {
    public var line: Int?
    public var range: CommentRange?
    public var message: String
    public var unresolved: Bool?
    /// `REVISION` (the default) or `PARENT`.
    public var side: String?
    public var inReplyTo: String?

    public init(
        line: Int? = nil, range: CommentRange? = nil, message: String, unresolved: Bool? = nil,
        side: String? = nil, inReplyTo: String? = nil
    ) {
        self.line = line
        self.range = range
        self.message = message
        self.unresolved = unresolved
        self.side = side
        self.inReplyTo = inReplyTo
    }

    enum CodingKeys: String, CodingKey {
        case line, range, message, unresolved, side
        case inReplyTo = "in_reply_to"
    }
}

/// Who is notified of a review.
public struct NotifyHandling: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let none = NotifyHandling(rawValue: "NONE")
    public static let owner = NotifyHandling(rawValue: "OWNER")
    public static let ownerReviewers = NotifyHandling(rawValue: "OWNER_REVIEWERS")
    public static let all = NotifyHandling(rawValue: "ALL")
    /// The values Gerrit accepts.
    public static let known: [NotifyHandling] = [.none, .owner, .ownerReviewers, .all]
}

/// A change to the attention set: who (account id, username or e-mail) and why.
public struct AttentionSetInput: Codable, Hashable, Sendable {
    public var user: String
    public var reason: String

    public init(user: String, reason: String) {
        self.user = user
        self.reason = reason
    }
}

/// The body of `POST /changes/{id}/revisions/{rev}/review`.
///
/// Everything stepgate posts carries its tag and leaves the attention set alone by default
/// (`ignore_automatic_attention_set_rules`): a CI account's reply is not a human's turn-taking. File comments are
/// ordinary `comments` (robot comments are deprecated and, in current Gerrit, off by default).
public struct ReviewInput: Codable, Hashable, Sendable {
    /// The tag stepgate puts on everything it posts; the `autogenerated:` prefix lets Gerrit's UI filter it.
    public static let stepgateTag = "autogenerated:stepgate"

    public var message: String?
    public var tag: String?
    public var labels: [String: Int]?
    /// `{path: [CommentInput]}`; `/PATCHSET_LEVEL` and `/COMMIT_MSG` are special paths.
    public var comments: [String: [CommentInput]]?
    public var notify: NotifyHandling?
    public var omitDuplicateComments: Bool?
    public var ignoreAutomaticAttentionSetRules: Bool?
    public var addToAttentionSet: [AttentionSetInput]?

    public init(
        message: String? = nil, labels: [String: Int]? = nil, comments: [String: [CommentInput]]? = nil,
        tag: String? = ReviewInput.stepgateTag, notify: NotifyHandling? = nil, omitDuplicateComments: Bool? = true,
        ignoreAutomaticAttentionSetRules: Bool? = true, addToAttentionSet: [AttentionSetInput]? = nil
    ) {
        self.message = message
        self.labels = labels
        self.comments = comments
        self.tag = tag
        self.notify = notify
        self.omitDuplicateComments = omitDuplicateComments
        self.ignoreAutomaticAttentionSetRules = ignoreAutomaticAttentionSetRules
        self.addToAttentionSet = addToAttentionSet
    }

    enum CodingKeys: String, CodingKey {
        case message, tag, labels, comments, notify
        case omitDuplicateComments = "omit_duplicate_comments"
        case ignoreAutomaticAttentionSetRules = "ignore_automatic_attention_set_rules"
        case addToAttentionSet = "add_to_attention_set"
    }
}

/// The answer to a review: `labels` holds the votes applied (unknown labels are silently left out by Gerrit).
public struct ReviewResult: Codable, Hashable, Sendable {
    public var labels: [String: Int]?
    public var ready: Bool?
    public var error: String?
}

/// A published comment (`GET /changes/{id}/comments`).
public struct CommentInfo: Codable, Hashable, Sendable {
    public var id: String
    public var path: String?
    public var patchSet: Int?
    public var line: Int?
    public var range: CommentRange?
    public var message: String?
    public var author: AccountInfo?
    public var updated: GerritTimestamp?
    public var unresolved: Bool?
    public var inReplyTo: String?
    public var tag: String?
    public var commitID: String?

    enum CodingKeys: String, CodingKey {
        case id, path, line, range, message, author, updated, unresolved, tag
        case patchSet = "patch_set"
        case inReplyTo = "in_reply_to"
        case commitID = "commit_id"
    }
}

/// A `o=` option of change queries.
public struct GerritQueryOption: RawRepresentable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let labels = GerritQueryOption(rawValue: "LABELS")
    public static let detailedLabels = GerritQueryOption(rawValue: "DETAILED_LABELS")
    public static let currentRevision = GerritQueryOption(rawValue: "CURRENT_REVISION")
    public static let allRevisions = GerritQueryOption(rawValue: "ALL_REVISIONS")
    public static let currentFiles = GerritQueryOption(rawValue: "CURRENT_FILES")
    public static let currentCommit = GerritQueryOption(rawValue: "CURRENT_COMMIT")
    public static let messages = GerritQueryOption(rawValue: "MESSAGES")
    public static let detailedAccounts = GerritQueryOption(rawValue: "DETAILED_ACCOUNTS")
    public static let submitRequirements = GerritQueryOption(rawValue: "SUBMIT_REQUIREMENTS")
    public static let skipDiffstat = GerritQueryOption(rawValue: "SKIP_DIFFSTAT")

    /// What the bot asks for when polling.
    public static let botPolling: [GerritQueryOption] = [
        .detailedLabels, .currentRevision, .currentFiles, .messages, .detailedAccounts,
    ]
}
