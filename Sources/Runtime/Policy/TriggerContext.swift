import Config
import StatesLanguage

/// A person as the review server identifies them: the account id (Gerrit) or user PHID (Phorge),
/// and the username, never a display name (anyone can set theirs to anything).
public struct ReviewerIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Gerrit's numeric account id, Phorge's user PHID.
    public var id: String
    /// The login name, when the server reports one.
    public var username: String?

    public init(id: String, username: String? = nil) {
        self.id = id
        self.username = username.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Every name an approver list may use for this person.
    public var names: [String] { [id] + (username.map { [$0] } ?? []) }

    /// How the person is shown in reports and records: the username, else the id.
    public var description: String { username ?? id }
}

/// What started an execution, as the server saw it: the facts role rules are checked against
/// and identity tokens are minted from. Never taken from the repository or the change.
public struct TriggerContext: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case gerrit
        case phabricator
        case push
        case preReceive = "pre-receive"
        case manual
    }

    public var kind: Kind
    /// The repository's name as the server configuration knows it (`demo`).
    public var repository: String
    /// The target branch (`main`); `refs/heads/` is stripped when present. Empty when unknown.
    public var branch: String
    /// The workflow's name in `stepgate.yaml` (or the definition's file name for local runs).
    public var workflow: String
    /// Review label values on the current patch set (`Code-Review: 2`).
    public var labels: [String: Int]
    /// The change (Gerrit change number, Phorge `D123`), when a review started the execution.
    public var change: String?
    public var patchSet: Int?
    /// Who voted or accepted, as the review server reports them (usernames, else account ids).
    public var approvers: [String]
    /// The owner of the change under review (never an approver of its own run unless the
    /// workflow allows it).
    public var owner: ReviewerIdentity?
    /// The commit the tasks run on.
    public var revision: String?

    public init(
        kind: Kind, repository: String, branch: String = "", workflow: String = "", labels: [String: Int] = [:],
        change: String? = nil, patchSet: Int? = nil, approvers: [String] = [], revision: String? = nil,
        owner: ReviewerIdentity? = nil
    ) {
        self.owner = owner
        self.kind = kind
        self.repository = repository
        self.branch = RefName.branchName(branch)
        self.workflow = workflow
        self.labels = labels
        self.change = change
        self.patchSet = patchSet
        self.approvers = approvers
        self.revision = revision
    }
}
