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

    /// Whether an outcome of `executionID` was already posted on `target` (after a crash during posting).
    func hasReported(executionID: String, on target: ReviewTarget, logger: Logger) async throws -> Bool

    /// Posts an execution's outcome: message, vote, file comments.
    func report(_ report: OutcomeReport, on target: ReviewTarget, logger: Logger) async throws

    /// Posts a message with file comments (validation errors of `.stepgate/` files), without a vote.
    func postFindings(_ findings: [ReviewFinding], message: String, on target: ReviewTarget, logger: Logger) async throws

    /// Posts a message only (cancellation notices).
    func postNotice(_ message: String, on target: ReviewTarget, logger: Logger) async throws

    /// Who may be deciding waiting `stepgate:approval` tasks on this snapshot (Code-Review +2 voters,
    /// accepting reviewers, approval commands), by account identity.
    func approvalVoters(in snapshot: ReviewSnapshot) -> [ApprovalVoter]

    /// Whether `error` cannot go away by retrying (see the extension's default).
    func isPermanent(_ error: any Error) -> Bool
}

extension ReviewPlatform {
    /// Whether `error` (thrown while bringing a revision in or running it) cannot go away by retrying: the engine then
    /// ends the run as failed and reports it once, instead of retrying it every cycle. By default nothing is.
    public func isPermanent(_ error: any Error) -> Bool { false }
}
