public import Foundation
public import StatesLanguage

/// Durable state as the runtime, the bot and the command line use it: executions with their history,
/// checkpoints and memoised task results; dedupe keys, poll cursors and report rows of the bot; approvals and
/// comments; leases; the hash-chained audit log.
///
/// Two implementations keep the same contract, and the same tests run against both: ``SQLiteStore`` (one file,
/// one machine) and ``PostgresStore`` (shared by several bot replicas and hook hosts). ``openStore(url:)``
/// picks one by the URL's scheme. Every method is one transaction; errors are ``StoreError``s of one line that
/// name the store (never a password).
public protocol ExecutionStore: Sendable {
    /// The store as people name it in messages: a file path, or a `postgres://` URL without its password.
    var path: String { get }

    /// The files of this store no task may see (the sandbox hides them): an SQLite database with its journal
    /// files and audit-head file; a PostgreSQL password file.
    var privateFiles: [String] { get }

    /// The schema versions applied, oldest first.
    func appliedMigrations() async throws(StoreError) -> [String]

    // MARK: Executions

    /// Creates a RUNNING execution row; the definition's SHA-256 is computed by the store.
    func createExecution(_ e: NewExecution) async throws(StoreError)
    func execution(id: String) async throws(StoreError) -> ExecutionRecord?
    /// Executions, newest first, optionally only those with `status`.
    func executions(status: ExecutionStatus?, limit: Int) async throws(StoreError) -> [ExecutionRecord]
    /// Ends an execution. Idempotent: an execution that already ended keeps its first ending.
    func finishExecution(id: String, _ ending: ExecutionEnding) async throws(StoreError)
    /// Writes a transition in one transaction: the events recorded since the last checkpoint (a replayed
    /// number replaces the earlier copy), the new checkpoint, and, when the execution has ended, its ending.
    func recordTransition(executionID: String, events: [StoredEvent], checkpoint: StoredCheckpoint?, ending: ExecutionEnding?)
        async throws(StoreError)
    func events(executionID: String) async throws(StoreError) -> [StoredEvent]
    func checkpoint(executionID: String) async throws(StoreError) -> StoredCheckpoint?
    func taskResult(executionID: String, key: String) async throws(StoreError) -> TaskOutcome?
    /// Remembers a finished task, and appends its audit entry in the same transaction. The first record for a
    /// key wins (and only the first is audited).
    func recordTaskResult(executionID: String, key: String, outcome: TaskOutcome, audit: AuditEntry?) async throws(StoreError)

    // MARK: Redrive

    /// The checkpoint of the state an ended execution was in (where a redrive starts): the one kept when the
    /// execution's final checkpoint was written, else its last checkpoint when that names a state (an execution
    /// aborted or timed out from outside). Nil when it ended in its first state.
    func redrivePoint(executionID: String) async throws(StoreError) -> StoredCheckpoint?
    /// Turns an ended execution back to RUNNING, to be resumed from `point` (AWS's RedriveExecution), in one
    /// transaction: the status must still be one of `from`; `event(seq, count)` (the redrive's history event) is
    /// appended after the history; the checkpoint becomes `point` with the event count after that event; the results
    /// of the tasks that failed and the approvals that were rejected or timed out are forgotten (they run again),
    /// those that succeeded are kept; the redrive count goes up; `audit` is appended.
    /// - Returns: the new redrive count.
    /// - Throws: `.conflict` when the execution is no longer in one of `from`; `.notFound` when it does not exist.
    func beginRedrive(
        executionID: String, from: [ExecutionStatus], point: StoredCheckpoint,
        event: @escaping @Sendable (_ seq: Int, _ count: Int) -> StoredEvent, audit: AuditEntry
    ) async throws(StoreError) -> Int

    // MARK: Dedupe keys and cursors

    /// Insert-if-absent: the first caller to claim `key` gets `.claimed`; every later caller (in any process)
    /// gets the execution id the key already maps to.
    func claimDedupeKey(_ key: String, executionID: String) async throws(StoreError) -> DedupeClaim
    func dedupeKey(_ key: String) async throws(StoreError) -> String?
    /// Sets what `key` maps to, claimed or not.
    func setDedupeKey(_ key: String, executionID: String) async throws(StoreError)
    func cursor(server: String, project: String) async throws(StoreError) -> PollCursor?
    func setCursor(server: String, project: String, cursor: String, updated: Date) async throws(StoreError)
    func cursors() async throws(StoreError) -> [PollCursor]

    // MARK: The bot's executions

    /// Claims `record.dedupeKey` for `record.executionID` and records the report row, in one transaction.
    func claimBotExecution(_ record: BotReportRecord) async throws(StoreError) -> DedupeClaim
    func botReports(reviewKey: String) async throws(StoreError) -> [BotReportRecord]
    func botReports(states: [String]) async throws(StoreError) -> [BotReportRecord]
    func botReport(executionID: String) async throws(StoreError) -> BotReportRecord?
    /// Moves a report to `state` (only from one of `from`, when given); returns whether the row changed. A move to
    /// `posting` records when the post began (``BotReportRecord/postingSince``).
    @discardableResult
    func setBotReportState(executionID: String, state: String, detail: String?, from: [String]?, at now: Date)
        async throws(StoreError) -> Bool
    func setBotReportCommit(executionID: String, commitID: String) async throws(StoreError)
    /// Hands the report of a redriven execution back to the bot: `pending` again (from a finished report only:
    /// `posted`, `skipped`, `cancelled`), so that the new outcome is reported on its revision, if that is still
    /// current. Returns whether there was one.
    @discardableResult
    func reopenBotReport(executionID: String, detail: String) async throws(StoreError) -> Bool

    // MARK: The bot's notices (an outbox)

    /// Records a notice to post, unless one with its key exists; returns the notice as stored.
    @discardableResult
    func enqueueBotNotice(_ notice: BotNoticeRecord) async throws(StoreError) -> BotNoticeRecord
    func botNotice(key: String) async throws(StoreError) -> BotNoticeRecord?
    /// The notices of `server` still to post (`pending`, or `posting` with an unknown outcome), oldest first.
    func unpostedBotNotices(server: String) async throws(StoreError) -> [BotNoticeRecord]
    /// Moves a notice to `state`; a move to `posting` records when the post began. A notice delivering a
    /// `stepgate:comment` marks the comment delivered when it becomes `posted`, in the same transaction.
    func setBotNoticeState(key: String, state: String, at now: Date) async throws(StoreError)

    // MARK: Approvals and comments

    /// Insert-if-absent by (execution, task key): an approval created before a restart comes back unchanged.
    func openApproval(
        executionID: String, taskKey: String, message: String, approvers: [String], required: Int, excluded: [String],
        deadline: Date, created: Date
    ) async throws(StoreError) -> ApprovalRecord
    func approval(executionID: String, taskKey: String) async throws(StoreError) -> ApprovalRecord?
    func approvals(executionID: String?, status: ApprovalStatus?) async throws(StoreError) -> [ApprovalRecord]
    /// Records a decision on the pending approvals of an execution; see ``SQLiteStore`` for the rules.
    @discardableResult
    func decideApproval(
        executionID: String, taskKey: String?, approve: Bool, by: String, identities: [String], comment: String?,
        audit: AuditEntry?, at now: Date
    ) async throws(StoreError) -> [ApprovalRecord]
    func expireApproval(executionID: String, taskKey: String, at now: Date) async throws(StoreError) -> ApprovalRecord?
    func addComment(executionID: String, taskKey: String, message: String, at now: Date) async throws(StoreError) -> CommentRecord
    func comments(executionID: String?, undeliveredOnly: Bool) async throws(StoreError) -> [CommentRecord]
    func markCommentDelivered(id: Int) async throws(StoreError)

    // MARK: Leases

    /// Takes the lease `name` for `owner` until `ttl` seconds from now (the store's clock): when nobody holds
    /// it, when its holder let it expire, or when `owner` holds it already (then it is extended).
    func acquireLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> LeaseClaim
    /// Extends a lease `owner` holds (the heartbeat); false when it expired and someone else took it.
    func renewLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> Bool
    /// Gives a lease up (nothing happens when `owner` does not hold it).
    func releaseLease(_ name: String, owner: String) async throws(StoreError)
    /// The lease `name` as it stands, expired or not.
    func lease(_ name: String) async throws(StoreError) -> LeaseRecord?

    // MARK: The audit log (see AuditLog)

    /// Appends an entry at the end of the chain (with the head row, in one transaction).
    func appendAudit(_ entry: AuditEntry) async throws(StoreError) -> AuditRecord
    /// The entries, by sequence number, and the head row (count and newest hash; nil when absent).
    func auditChain() async throws(StoreError) -> (records: [AuditRecord], head: (count: Int, hash: String)?)
}

/// The result of ``ExecutionStore/acquireLease(_:owner:ttl:)``.
public enum LeaseClaim: Sendable, Equatable {
    /// The lease was free or expired, and is now the caller's.
    case acquired
    /// The caller held it already; its expiry moved.
    case renewed
    /// Someone else holds it until `expires`.
    case held(by: String, expires: Date)

    /// Whether the caller now holds the lease.
    public var isHeld: Bool {
        switch self {
        case .acquired, .renewed: return true
        case .held: return false
        }
    }
}

/// A lease as stored.
public struct LeaseRecord: Sendable, Equatable {
    public var name: String
    public var owner: String
    public var expires: Date
}

extension ExecutionStore {
    // The defaulted forms of the requirements.

    public func executions(status: ExecutionStatus? = nil) async throws(StoreError) -> [ExecutionRecord] {
        try await executions(status: status, limit: 1000)
    }

    public func recordTransition(executionID: String, events: [StoredEvent], checkpoint: StoredCheckpoint?)
        async throws(StoreError)
    {
        try await recordTransition(executionID: executionID, events: events, checkpoint: checkpoint, ending: nil)
    }

    public func recordTaskResult(executionID: String, key: String, outcome: TaskOutcome) async throws(StoreError) {
        try await recordTaskResult(executionID: executionID, key: key, outcome: outcome, audit: nil)
    }

    public func setCursor(server: String, project: String, cursor: String) async throws(StoreError) {
        try await setCursor(server: server, project: project, cursor: cursor, updated: Date())
    }

    @discardableResult
    public func setBotReportState(executionID: String, state: String, detail: String? = nil, from: [String]? = nil)
        async throws(StoreError) -> Bool
    {
        try await setBotReportState(executionID: executionID, state: state, detail: detail, from: from, at: Date())
    }

    public func setBotNoticeState(key: String, state: String) async throws(StoreError) {
        try await setBotNoticeState(key: key, state: state, at: Date())
    }

    public func openApproval(
        executionID: String, taskKey: String, message: String, approvers: [String], required: Int = 1,
        excluded: [String] = [], deadline: Date
    ) async throws(StoreError) -> ApprovalRecord {
        try await openApproval(
            executionID: executionID, taskKey: taskKey, message: message, approvers: approvers, required: required,
            excluded: excluded, deadline: deadline, created: Date())
    }

    public func approvals(executionID: String? = nil) async throws(StoreError) -> [ApprovalRecord] {
        try await approvals(executionID: executionID, status: nil)
    }

    public func approvals(status: ApprovalStatus) async throws(StoreError) -> [ApprovalRecord] {
        try await approvals(executionID: nil, status: status)
    }

    @discardableResult
    public func decideApproval(
        executionID: String, taskKey: String? = nil, approve: Bool, by: String, identities: [String] = [],
        comment: String? = nil, audit: AuditEntry? = nil
    ) async throws(StoreError) -> [ApprovalRecord] {
        try await decideApproval(
            executionID: executionID, taskKey: taskKey, approve: approve, by: by, identities: identities, comment: comment,
            audit: audit, at: Date())
    }

    public func expireApproval(executionID: String, taskKey: String) async throws(StoreError) -> ApprovalRecord? {
        try await expireApproval(executionID: executionID, taskKey: taskKey, at: Date())
    }

    public func addComment(executionID: String, taskKey: String, message: String) async throws(StoreError) -> CommentRecord {
        try await addComment(executionID: executionID, taskKey: taskKey, message: message, at: Date())
    }

    public func comments(executionID: String? = nil) async throws(StoreError) -> [CommentRecord] {
        try await comments(executionID: executionID, undeliveredOnly: false)
    }

    public func comments(undeliveredOnly: Bool) async throws(StoreError) -> [CommentRecord] {
        try await comments(executionID: nil, undeliveredOnly: undeliveredOnly)
    }

    /// The audit log kept in this store.
    public var audit: AuditLog { AuditLog(store: self) }
}

/// Opens the store a URL names: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]` for
/// ``PostgresStore``, `sqlite:///PATH` (or a plain path) for ``SQLiteStore``.
/// - Throws: ``StoreError`` of one line naming the store (never its password).
public func openStore(url: String) throws(StoreError) -> any ExecutionStore {
    let location = try StoreLocation(parsing: url)
    switch location {
    case .sqlite: return try SQLiteStore(location: location)
    case .postgres(let settings): return try PostgresStore(settings: settings)
    }
}
