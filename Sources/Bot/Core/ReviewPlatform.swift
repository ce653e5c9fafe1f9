public import Logging
public import Runtime

/// What one poll of one server found.
public struct PollBatch: Sendable {
    /// The reviews updated since the cursors (overlap included), newest state each.
    public var snapshots: [ReviewSnapshot]
    /// The cursor to store per scope (project, repository) once every snapshot is handled. The
    /// server's own `updated` time, never the bot's clock.
    public var cursors: [String: String]

    public init(snapshots: [ReviewSnapshot], cursors: [String: String]) {
        self.snapshots = snapshots
        self.cursors = cursors
    }
}

/// The seam between the server-neutral bot engine and one review platform (Gerrit, Phorge).
///
/// Implementations do HTTP and Git I/O only; every decision (what to start, cancel, report) is
/// made by ``TriggerDecider`` and ``ReportDecider``. Methods throw the platform's client errors
/// (``ReviewClients/ReviewClientError``) or ``Git/GitError``; the engine logs them, records them
/// and retries on the next cycle.
public protocol ReviewPlatform: Sendable {
    /// The configured server name.
    var server: String { get }
    var kind: TriggerContext.Kind { get }
    var pollInterval: Duration { get }
    /// The cursor scopes (Gerrit projects, Phorge repositories) this server is polled by.
    var scopes: [String] { get }

    /// Learns what the platform needs before polling (the bot's own account). Called once per process.
    func prepare(logger: Logger) async throws

    /// Reviews updated since `cursors` (scope → stored cursor; a scope missing from it has never been polled).
    func poll(cursors: [String: String], logger: Logger) async throws -> PollBatch

    /// Brings the mirror's branches up to date (the trusted configuration is read from the target branch's tip).
    func refreshMirror(_ mirror: MirrorConfiguration, logger: Logger) async throws

    /// Brings the snapshot's revision into the mirror; returns its commit (40 hex digits).
    func fetchRevision(_ snapshot: ReviewSnapshot, into mirror: MirrorConfiguration, logger: Logger) async throws -> String

    /// Whether `target` is still the review's current revision and the review is open.
    func isCurrent(_ target: ReviewTarget, logger: Logger) async throws -> Bool

    /// How long after a write to the server began it may still land there (the server applying it late). A write
    /// whose outcome the bot did not learn (its process died, the answer was lost) is looked for on the server only
    /// once this has passed, and made again only when it is not there.
    var settleWindow: Duration { get }

    /// Whether the bot's own account posted, on `target`'s review, a message with a line equal to `mark` (each
    /// report and notice ends with one: `Execution: ID`, `Notice: KEY`).
    func hasPosted(_ mark: String, on target: ReviewTarget, logger: Logger) async throws -> Bool

    /// Posts an execution's outcome: message, vote, file comments.
    func report(_ report: OutcomeReport, on target: ReviewTarget, logger: Logger) async throws

    /// Posts a message with file comments (validation errors of `.stepgate/` files), without a vote.
    func postFindings(_ findings: [ReviewFinding], message: String, on target: ReviewTarget, logger: Logger) async throws

    /// Posts a message only (cancellation notices).
    func postNotice(_ message: String, on target: ReviewTarget, logger: Logger) async throws

    /// Who may be deciding waiting `stepgate:approval` tasks on this snapshot (Code-Review +2 voters,
    /// accepting reviewers, approval commands), by account identity.
    func approvalVoters(in snapshot: ReviewSnapshot) -> [ApprovalVoter]

    /// The entries among `groups` (approver entries `group:NAME`) whose group, as the server records it, has
    /// `person` (by account identity) as a member.
    func groups(of person: ReviewerIdentity, among groups: [String], logger: Logger) async throws -> [String]

    /// Whether `error` cannot go away by retrying (see the extension's default).
    func isPermanent(_ error: any Error) -> Bool
}

extension ReviewPlatform {
    /// Whether `error` (thrown while bringing a revision in or running it) cannot go away by retrying: the engine then
    /// ends the run as failed and reports it once, instead of retrying it every cycle. By default only a
    /// ``RevisionMismatch`` is.
    public func isPermanent(_ error: any Error) -> Bool { error is RevisionMismatch }

    /// A platform without groups: nobody is a member of any.
    public func groups(of person: ReviewerIdentity, among groups: [String], logger: Logger) async throws -> [String] { [] }
}

/// The commit brought in for a revision is not the one the review server names as that revision: nothing runs on
/// it (a workflow would test one commit and vote on another), and the review is told so once.
public struct RevisionMismatch: Error, Sendable, CustomStringConvertible {
    public var revisionNumber: Int
    /// What the server names as the revision.
    public var expected: String
    /// What was fetched.
    public var fetched: String

    public init(revisionNumber: Int, expected: String, fetched: String) {
        self.revisionNumber = revisionNumber
        self.expected = expected
        self.fetched = fetched
    }

    public var description: String {
        "the commit fetched for patch set \(revisionNumber) is \(fetched), but the review server names \(expected) as its "
            + "revision; nothing ran on it"
    }
}
