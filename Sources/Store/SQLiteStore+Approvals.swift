public import Foundation
internal import GRDB
import StatesLanguage

extension SQLiteStore {
    // MARK: Approvals

    /// Insert-if-absent by (execution, task key): the approval already created for this task (before
    /// a restart) is returned unchanged, with its original token and deadline.
    /// - Parameters:
    ///   - approvers: who may decide (any identity of theirs: account id or username); empty: anyone.
    ///   - required: how many distinct approvers must approve before it is approved.
    ///   - excluded: identities that may never decide it (the change's owner).
    public func openApproval(
        executionID: String, taskKey: String, message: String, approvers: [String], required: Int,
        excluded: [String], deadline: Date, created: Date
    ) async throws(StoreError) -> ApprovalRecord {
        let token = StoredJSON.randomToken()
        let approversJSON = StoredJSON.strings(approvers)
        let excludedJSON = StoredJSON.strings(excluded)
        return try await write("open an approval for execution \(executionID)") { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO approvals
                        (execution_id, task_key, token, message, approvers, status, created, deadline, required, excluded)
                    VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                    """,
                arguments: [
                    executionID, taskKey, token, message, approversJSON, created.timeIntervalSince1970,
                    deadline.timeIntervalSince1970, max(1, required), excludedJSON,
                ])
            guard let a = try Self.approval(db, executionID: executionID, taskKey: taskKey) else {
                throw StoreError(.database, "the approval for \(executionID) \(taskKey) vanished")
            }
            return a
        }
    }

    public func approval(executionID: String, taskKey: String) async throws(StoreError) -> ApprovalRecord? {
        try await read("read an approval of execution \(executionID)") { db in
            try Self.approval(db, executionID: executionID, taskKey: taskKey)
        }
    }

    /// Approvals of one execution (or of all, when nil), oldest first, optionally by status.
    public func approvals(executionID: String?, status: ApprovalStatus?) async throws(StoreError) -> [ApprovalRecord] {
        try await read("list approvals") { db in
            var sql = "SELECT * FROM approvals WHERE 1"
            var args: StatementArguments = []
            if let executionID {
                sql += " AND execution_id = ?"
                args += [executionID]
            }
            if let status {
                sql += " AND status = ?"
                args += [status.rawValue]
            }
            sql += " ORDER BY created, task_key"
            return try Row.fetchAll(db, sql: sql, arguments: args).map { try Self.approval($0, db: db) }
        }
    }

    /// Records a decision on the pending approvals of an execution (only the one with `taskKey`,
    /// when given; `token` may name the execution's approval instead).
    ///
    /// `by` names the person as the record shows them; `identities` are every name they are known
    /// by (account id, username, and the `group:NAME` entries whose group the caller found them
    /// in), all checked against the approval's approvers and its excluded identities. A `by` with
    /// a `:` is never matched itself: such a name is a group entry, which only the caller's
    /// resolution (in `identities`) may grant. A rejection decides at once; an approval counts one vote per distinct person
    /// and decides once `required` people approved. Returns the approvals voted on (each as it now
    /// stands: still pending when more approvers are needed); throws `.notFound` when nothing is
    /// pending, `.conflict` when `by` may not decide.
    @discardableResult
    public func decideApproval(
        executionID: String, taskKey: String?, approve: Bool, by: String, identities: [String],
        comment: String?, audit: AuditEntry?, at now: Date
    ) async throws(StoreError) -> [ApprovalRecord] {
        let names = ApprovalRecord.voterNames(by: by, identities: identities)
        return try await write("decide an approval of execution \(executionID)") { db in
            var pending = try Row.fetchAll(
                db,
                sql: "SELECT * FROM approvals WHERE (execution_id = ? OR token = ?) AND status = 'pending' ORDER BY created",
                arguments: [executionID, executionID]
            ).map { try Self.approval($0, db: db) }
            if let taskKey { pending = pending.filter { $0.taskKey == taskKey } }
            guard !pending.isEmpty else {
                throw StoreError(.notFound, "execution \(executionID) has no pending approval" + (taskKey.map { " for task \($0)" } ?? ""))
            }
            var decided: [ApprovalRecord] = []
            for var a in pending {
                try a.checkVoter(names, by: by, at: now)
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO approval_votes (execution_id, task_key, voter, approve, comment, time)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [a.executionID, a.taskKey, by, approve ? 1 : 0, comment, now.timeIntervalSince1970])
                let voters = try Self.approvedBy(db, executionID: a.executionID, taskKey: a.taskKey)
                guard a.count(vote: approve, by: by, approvedBy: voters, comment: comment, at: now) else {
                    decided.append(a)
                    continue
                }
                try db.execute(
                    sql: """
                        UPDATE approvals SET status = ?, decided_by = ?, comment = ?, decided = ?
                        WHERE execution_id = ? AND task_key = ? AND status = 'pending'
                        """,
                    arguments: [a.status.rawValue, a.decidedBy, comment, now.timeIntervalSince1970, a.executionID, a.taskKey])
                decided.append(a)
            }
            if let audit { _ = try AuditLog.append(audit, in: db) }
            return decided
        }
    }

    /// The distinct people who approved an approval so far, in the order they did.
    static func approvedBy(_ db: Database, executionID: String, taskKey: String) throws -> [String] {
        try String.fetchAll(
            db, sql: "SELECT voter FROM approval_votes WHERE execution_id = ? AND task_key = ? AND approve = 1 ORDER BY time, voter",
            arguments: [executionID, taskKey])
    }

    /// Marks a pending approval timed out (its deadline passed); returns the row as it now stands.
    public func expireApproval(executionID: String, taskKey: String, at now: Date) async throws(StoreError) -> ApprovalRecord? {
        try await write("expire an approval of execution \(executionID)") { db in
            try db.execute(
                sql: """
                    UPDATE approvals SET status = 'timed-out', decided = ?
                    WHERE execution_id = ? AND task_key = ? AND status = 'pending'
                    """,
                arguments: [now.timeIntervalSince1970, executionID, taskKey])
            return try Self.approval(db, executionID: executionID, taskKey: taskKey)
        }
    }

    static func approval(_ db: Database, executionID: String, taskKey: String) throws -> ApprovalRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM approvals WHERE execution_id = ? AND task_key = ?", arguments: [executionID, taskKey]
        ).map { try approval($0, db: db) }
    }

    static func approval(_ row: Row, db: Database) throws -> ApprovalRecord {
        let columns = Columns(row)
        let voters = try approvedBy(db, executionID: columns.string("execution_id"), taskKey: columns.string("task_key"))
        return try ApprovalRecord(row: columns, approvedBy: voters)
    }

    // MARK: Comments

    /// Insert-if-absent by (execution, task key): a replayed comment task gets the first row back.
    public func addComment(executionID: String, taskKey: String, message: String, at now: Date) async throws(StoreError)
        -> CommentRecord
    {
        try await write("add a comment to execution \(executionID)") { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO comments (execution_id, task_key, message, created) VALUES (?, ?, ?, ?)",
                arguments: [executionID, taskKey, message, now.timeIntervalSince1970])
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM comments WHERE execution_id = ? AND task_key = ?", arguments: [executionID, taskKey])
            else { throw StoreError(.database, "the comment for \(executionID) \(taskKey) vanished") }
            return try Self.comment(row)
        }
    }

    /// Comments of one execution (or all), oldest first; `undeliveredOnly` for the bot's outbox.
    public func comments(executionID: String?, undeliveredOnly: Bool) async throws(StoreError) -> [CommentRecord] {
        try await read("list comments") { db in
            var sql = "SELECT * FROM comments WHERE 1"
            var args: StatementArguments = []
            if let executionID {
                sql += " AND execution_id = ?"
                args += [executionID]
            }
            if undeliveredOnly { sql += " AND delivered = 0" }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: args).map(Self.comment)
        }
    }

    public func markCommentDelivered(id: Int) async throws(StoreError) {
        try await write("mark comment \(id) delivered") { db in
            try db.execute(sql: "UPDATE comments SET delivered = 1 WHERE id = ?", arguments: [id])
        }
    }

    static func comment(_ row: Row) throws -> CommentRecord {
        try CommentRecord(row: Columns(row))
    }
}
