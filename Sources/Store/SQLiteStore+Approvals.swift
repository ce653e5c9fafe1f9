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
        executionID: String, taskKey: String, message: String, approvers: [String], required: Int = 1,
        excluded: [String] = [], deadline: Date, created: Date = Date()
    ) async throws(StoreError) -> ApprovalRecord {
        let token = Self.randomToken()
        let approversJSON = JSON.array(approvers.map(JSON.string)).serialized
        let excludedJSON = JSON.array(excluded.map(JSON.string)).serialized
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
    public func approvals(executionID: String? = nil, status: ApprovalStatus? = nil) async throws(StoreError) -> [ApprovalRecord] {
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
        executionID: String, taskKey: String? = nil, approve: Bool, by: String, identities: [String] = [],
        comment: String? = nil, audit: AuditEntry? = nil, at now: Date = Date()
    ) async throws(StoreError) -> [ApprovalRecord] {
        let names = Set((by.contains(":") ? [] : [by]) + identities)
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
                if !names.isDisjoint(with: a.excluded) {
                    throw StoreError(.conflict, "\(by) may not decide this approval: it is their own change")
                }
                if !a.approvers.isEmpty && names.isDisjoint(with: a.approvers) {
                    throw StoreError(
                        .conflict, "\(by) may not decide this approval; approvers: \(a.approvers.joined(separator: ", "))")
                }
                if a.deadline <= now {
                    throw StoreError(.conflict, "the approval of execution \(a.executionID) passed its deadline")
                }
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO approval_votes (execution_id, task_key, voter, approve, comment, time)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [a.executionID, a.taskKey, by, approve ? 1 : 0, comment, now.timeIntervalSince1970])
                a.approvedBy = try Self.approvedBy(db, executionID: a.executionID, taskKey: a.taskKey)
                if approve && a.approvedBy.count < a.required {
                    decided.append(a)
                    continue
                }
                a.status = approve ? .approved : .rejected
                a.decidedBy = approve ? a.approvedBy.joined(separator: ", ") : by
                a.comment = comment
                a.decided = now
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
    public func expireApproval(executionID: String, taskKey: String, at now: Date = Date()) async throws(StoreError) -> ApprovalRecord? {
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
        let approvers = (try parseJSON(row["approvers"], column: "approvers")).arrayValue?.compactMap(\.stringValue) ?? []
        let excluded = (try parseJSON(row["excluded"], column: "excluded")).arrayValue?.compactMap(\.stringValue) ?? []
        let statusText: String = row["status"] ?? ""
        guard let status = ApprovalStatus(rawValue: statusText) else {
            throw StoreError(.invalidData, "approval has an unknown status '\(statusText)'")
        }
        return ApprovalRecord(
            executionID: row["execution_id"] ?? "", taskKey: row["task_key"] ?? "", token: row["token"] ?? "",
            message: row["message"] ?? "", approvers: approvers, required: row["required"] ?? 1, excluded: excluded,
            approvedBy: try approvedBy(db, executionID: row["execution_id"] ?? "", taskKey: row["task_key"] ?? ""),
            status: status, decidedBy: row["decided_by"],
            comment: row["comment"], created: Date(timeIntervalSince1970: row["created"] ?? 0),
            deadline: Date(timeIntervalSince1970: row["deadline"] ?? 0),
            decided: (row["decided"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
    }

    // MARK: Comments

    /// Insert-if-absent by (execution, task key): a replayed comment task gets the first row back.
    public func addComment(executionID: String, taskKey: String, message: String, at now: Date = Date()) async throws(StoreError)
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
            return Self.comment(row)
        }
    }

    /// Comments of one execution (or all), oldest first; `undeliveredOnly` for the bot's outbox.
    public func comments(executionID: String? = nil, undeliveredOnly: Bool = false) async throws(StoreError) -> [CommentRecord] {
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

    static func comment(_ row: Row) -> CommentRecord {
        CommentRecord(
            id: row["id"] ?? 0, executionID: row["execution_id"] ?? "", taskKey: row["task_key"] ?? "",
            message: row["message"] ?? "", delivered: (row["delivered"] as Int? ?? 0) != 0,
            created: Date(timeIntervalSince1970: row["created"] ?? 0))
    }
}
