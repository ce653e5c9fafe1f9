public import Foundation
internal import GRDB

/// A bot execution as the `bot_reports` table keeps it: which review revision it reports to and how far
/// its report got. `target` is the bot's own JSON (the store does not interpret it).
public struct BotReportRecord: Sendable, Equatable {
    public var executionID: String
    public var dedupeKey: String
    /// `server|review` of the review the execution belongs to.
    public var reviewKey: String
    public var workflow: String
    public var target: String
    public var revisionNumber: Int
    /// The commit the tasks ran on, once fetched.
    public var commitID: String?
    /// `pending`, `posting`, `posted`, `skipped`, `cancelled` (the bot's ReportState).
    public var state: String
    public var detail: String?
    public var created: Date
    public var updated: Date
    /// When the latest post of the report began (set on every move to `posting`).
    public var postingSince: Date?

    public init(
        executionID: String, dedupeKey: String, reviewKey: String, workflow: String, target: String, revisionNumber: Int,
        commitID: String? = nil, state: String = "pending", detail: String? = nil, created: Date = Date(), updated: Date = Date()
    ) {
        self.executionID = executionID
        self.dedupeKey = dedupeKey
        self.reviewKey = reviewKey
        self.workflow = workflow
        self.target = target
        self.revisionNumber = revisionNumber
        self.commitID = commitID
        self.state = state
        self.detail = detail
        self.created = created
        self.updated = updated
    }
}

extension SQLiteStore {
    /// Claims `record.dedupeKey` for `record.executionID` and records the report row, in one transaction: a
    /// trigger is either fully claimed (and will be run and reported, even after a crash) or not at all.
    public func claimBotExecution(_ record: BotReportRecord) async throws(StoreError) -> DedupeClaim {
        try await write("claim bot execution \(record.dedupeKey)") { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO dedupe_keys (key, execution_id, created) VALUES (?, ?, ?)",
                arguments: [record.dedupeKey, record.executionID, record.created.timeIntervalSince1970])
            if db.changesCount == 0 {
                let existing = try String.fetchOne(
                    db, sql: "SELECT execution_id FROM dedupe_keys WHERE key = ?", arguments: [record.dedupeKey])
                return .existing(executionID: existing ?? "")
            }
            try db.execute(
                sql: """
                    INSERT INTO bot_reports (execution_id, dedupe_key, review_key, workflow, target, revision_number,
                        commit_id, state, detail, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.executionID, record.dedupeKey, record.reviewKey, record.workflow, record.target,
                    record.revisionNumber, record.commitID, record.state, record.detail,
                    record.created.timeIntervalSince1970, record.updated.timeIntervalSince1970,
                ])
            return .claimed
        }
    }

    /// The bot executions of one review, oldest first.
    public func botReports(reviewKey: String) async throws(StoreError) -> [BotReportRecord] {
        try await read("read the bot executions of \(reviewKey)") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM bot_reports WHERE review_key = ? ORDER BY created, execution_id", arguments: [reviewKey]
            ).map(Self.botReport)
        }
    }

    /// Bot executions whose report is in one of `states`, oldest first.
    public func botReports(states: [String]) async throws(StoreError) -> [BotReportRecord] {
        try await read("read bot executions") { db in
            let marks = states.map { _ in "?" }.joined(separator: ", ")
            return try Row.fetchAll(
                db, sql: "SELECT * FROM bot_reports WHERE state IN (\(marks)) ORDER BY created, execution_id",
                arguments: StatementArguments(states)
            ).map(Self.botReport)
        }
    }

    public func botReport(executionID: String) async throws(StoreError) -> BotReportRecord? {
        try await read("read bot execution \(executionID)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM bot_reports WHERE execution_id = ?", arguments: [executionID])
                .map(Self.botReport)
        }
    }

    /// Moves a report to `state` (only from one of `from`, when given); returns whether the row changed. A move to
    /// `posting` records when the post began (``BotReportRecord/postingSince``).
    @discardableResult
    public func setBotReportState(
        executionID: String, state: String, detail: String?, from: [String]?, at now: Date
    ) async throws(StoreError) -> Bool {
        try await write("update the report of \(executionID)") { db in
            var sql = """
                UPDATE bot_reports SET state = ?, detail = COALESCE(?, detail), updated = ?,
                    posting_since = CASE WHEN ? = 'posting' THEN ? ELSE posting_since END WHERE execution_id = ?
                """
            var arguments: [(any DatabaseValueConvertible)?] = [
                state, detail, now.timeIntervalSince1970, state, now.timeIntervalSince1970, executionID,
            ]
            if let from, !from.isEmpty {
                sql += " AND state IN (\(from.map { _ in "?" }.joined(separator: ", ")))"
                arguments += from.map { $0 as (any DatabaseValueConvertible)? }
            }
            try db.execute(sql: sql, arguments: StatementArguments(arguments))
            return db.changesCount > 0
        }
    }

    /// Records the commit a bot execution runs on.
    public func setBotReportCommit(executionID: String, commitID: String) async throws(StoreError) {
        try await write("record the commit of \(executionID)") { db in
            try db.execute(
                sql: "UPDATE bot_reports SET commit_id = ?, updated = ? WHERE execution_id = ?",
                arguments: [commitID, Date().timeIntervalSince1970, executionID])
        }
    }

    /// Hands the report of a redriven execution back to the bot: `pending` again (from a finished report only), so
    /// that the new outcome is reported on its revision, if that is still current. Returns whether there was one.
    @discardableResult
    public func reopenBotReport(executionID: String, detail: String) async throws(StoreError) -> Bool {
        try await write("reopen the report of \(executionID)") { db in
            try db.execute(
                sql: """
                    UPDATE bot_reports SET state = 'pending', detail = ?, posting_since = NULL, updated = ?
                    WHERE execution_id = ? AND state IN ('posted', 'skipped', 'cancelled')
                    """,
                arguments: [detail, Date().timeIntervalSince1970, executionID])
            return db.changesCount > 0
        }
    }

    static func botReport(_ row: Row) throws -> BotReportRecord {
        try BotReportRecord(row: Columns(row))
    }
}
