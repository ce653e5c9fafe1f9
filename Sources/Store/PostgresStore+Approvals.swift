public import Foundation
internal import PostgresNIO

extension PostgresStore {
    // MARK: Approvals

    public func openApproval(
        executionID: String, taskKey: String, message: String, approvers: [String], required: Int, excluded: [String],
        deadline: Date, created: Date
    ) async throws(StoreError) -> ApprovalRecord {
        let token = StoredJSON.randomToken()
        let (approversJSON, excludedJSON) = (StoredJSON.strings(approvers), StoredJSON.strings(excluded))
        let (time, until, needed) = (created.timeIntervalSince1970, deadline.timeIntervalSince1970, max(1, required))
        return try await transaction("open an approval for execution \(executionID)") { c in
            try await c.run(
                """
                INSERT INTO approvals (execution_id, task_key, token, message, approvers, status, created, deadline, required, excluded)
                VALUES (\(executionID), \(taskKey), \(token), \(message), \(approversJSON), 'pending', \(time), \(until), \(needed),
                    \(excludedJSON))
                ON CONFLICT (execution_id, task_key) DO NOTHING
                """)
            guard let a = try await Self.approval(c, executionID: executionID, taskKey: taskKey) else {
                throw StoreError(.database, "the approval for \(executionID) \(taskKey) vanished")
            }
            return a
        }
    }

    public func approval(executionID: String, taskKey: String) async throws(StoreError) -> ApprovalRecord? {
        try await transaction("read an approval of execution \(executionID)") { c in
            try await Self.approval(c, executionID: executionID, taskKey: taskKey)
        }
    }

    public func approvals(executionID: String?, status: ApprovalStatus?) async throws(StoreError) -> [ApprovalRecord] {
        try await transaction("list approvals") { c in
            let rows = try await c.rows(
                """
                SELECT * FROM approvals WHERE (\(executionID)::text IS NULL OR execution_id = \(executionID))
                    AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                ORDER BY created, task_key
                """)
            var result: [ApprovalRecord] = []
            for row in rows { result.append(try await Self.approval(row, c)) }
            return result
        }
    }

    @discardableResult
    public func decideApproval(
        executionID: String, taskKey: String?, approve: Bool, by: String, identities: [String], comment: String?,
        audit: AuditEntry?, at now: Date
    ) async throws(StoreError) -> [ApprovalRecord] {
        let names = ApprovalRecord.voterNames(by: by, identities: identities)
        let time = now.timeIntervalSince1970
        return try await transaction("decide an approval of execution \(executionID)") { c in
            var pending: [ApprovalRecord] = []
            for row in try await c.rows(
                """
                SELECT * FROM approvals WHERE (execution_id = \(executionID) OR token = \(executionID)) AND status = 'pending'
                ORDER BY created FOR UPDATE
                """)
            {
                pending.append(try await Self.approval(row, c))
            }
            if let taskKey { pending = pending.filter { $0.taskKey == taskKey } }
            guard !pending.isEmpty else {
                throw StoreError(.notFound, "execution \(executionID) has no pending approval" + (taskKey.map { " for task \($0)" } ?? ""))
            }
            var decided: [ApprovalRecord] = []
            for var a in pending {
                try a.checkVoter(names, by: by, at: now)
                let vote = approve ? 1 : 0
                try await c.run(
                    """
                    INSERT INTO approval_votes (execution_id, task_key, voter, approve, comment, time)
                    VALUES (\(a.executionID), \(a.taskKey), \(by), \(vote), \(comment), \(time))
                    ON CONFLICT (execution_id, task_key, voter) DO UPDATE SET approve = EXCLUDED.approve,
                        comment = EXCLUDED.comment, time = EXCLUDED.time
                    """)
                let voters = try await Self.approvedBy(c, executionID: a.executionID, taskKey: a.taskKey)
                if a.count(vote: approve, by: by, approvedBy: voters, comment: comment, at: now) {
                    try await c.run(
                        """
                        UPDATE approvals SET status = \(a.status.rawValue), decided_by = \(a.decidedBy), comment = \(comment),
                            decided = \(time)
                        WHERE execution_id = \(a.executionID) AND task_key = \(a.taskKey) AND status = 'pending'
                        """)
                }
                decided.append(a)
            }
            if let audit { _ = try await Self.appendAudit(audit, in: c) }
            return decided
        }
    }

    public func expireApproval(executionID: String, taskKey: String, at now: Date) async throws(StoreError) -> ApprovalRecord? {
        let time = now.timeIntervalSince1970
        return try await transaction("expire an approval of execution \(executionID)") { c in
            try await c.run(
                """
                UPDATE approvals SET status = 'timed-out', decided = \(time)
                WHERE execution_id = \(executionID) AND task_key = \(taskKey) AND status = 'pending'
                """)
            return try await Self.approval(c, executionID: executionID, taskKey: taskKey)
        }
    }

    static func approval(_ c: PostgresConnection, executionID: String, taskKey: String) async throws -> ApprovalRecord? {
        guard let row = try await c.row("SELECT * FROM approvals WHERE execution_id = \(executionID) AND task_key = \(taskKey)")
        else { return nil }
        return try await approval(row, c)
    }

    static func approval(_ row: PostgresColumns, _ c: PostgresConnection) async throws -> ApprovalRecord {
        let voters = try await approvedBy(c, executionID: row.string("execution_id"), taskKey: row.string("task_key"))
        return try ApprovalRecord(row: row, approvedBy: voters)
    }

    static func approvedBy(_ c: PostgresConnection, executionID: String, taskKey: String) async throws -> [String] {
        try await c.rows(
            """
            SELECT voter FROM approval_votes WHERE execution_id = \(executionID) AND task_key = \(taskKey) AND approve = 1
            ORDER BY time, voter
            """
        ).map { try $0.string("voter") }
    }

    // MARK: Comments

    public func addComment(executionID: String, taskKey: String, message: String, at now: Date) async throws(StoreError)
        -> CommentRecord
    {
        let time = now.timeIntervalSince1970
        return try await transaction("add a comment to execution \(executionID)") { c in
            try await c.run(
                """
                INSERT INTO comments (execution_id, task_key, message, created) VALUES (\(executionID), \(taskKey), \(message), \(time))
                ON CONFLICT (execution_id, task_key) DO NOTHING
                """)
            guard let row = try await c.row("SELECT * FROM comments WHERE execution_id = \(executionID) AND task_key = \(taskKey)")
            else { throw StoreError(.database, "the comment for \(executionID) \(taskKey) vanished") }
            return try CommentRecord(row: row)
        }
    }

    public func comments(executionID: String?, undeliveredOnly: Bool) async throws(StoreError) -> [CommentRecord] {
        try await transaction("list comments") { c in
            try await c.rows(
                """
                SELECT * FROM comments WHERE (\(executionID)::text IS NULL OR execution_id = \(executionID))
                    AND (NOT \(undeliveredOnly) OR delivered = 0)
                ORDER BY id
                """
            ).map(CommentRecord.init(row:))
        }
    }

    public func markCommentDelivered(id: Int) async throws(StoreError) {
        try await transaction("mark comment \(id) delivered") { c in
            try await c.run("UPDATE comments SET delivered = 1 WHERE id = \(id)")
        }
    }

    // MARK: Audit log

    public func appendAudit(_ entry: AuditEntry) async throws(StoreError) -> AuditRecord {
        try await transaction("append to the audit log") { c in try await Self.appendAudit(entry, in: c) }
    }

    /// Appends at the end of the chain inside the caller's transaction, holding the audit lock until it ends.
    static func appendAudit(_ e: AuditEntry, in c: PostgresConnection) async throws -> AuditRecord {
        try await c.run("SELECT pg_advisory_xact_lock(\(PostgresSchema.auditLock))")
        let last = try await c.row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        let head = try await c.row("SELECT count FROM audit_head WHERE id = 1")
        let r = AuditRecord.next(
            e, last: try last.map { (try $0.int("seq") ?? 0, try $0.string("hash")) }, headCount: try head?.int("count"))
        try await c.run(
            """
            INSERT INTO audit_log (seq, time, actor, repository, revision, role, action, target, result, prev_hash, hash)
            VALUES (\(r.seq), \(r.time), \(r.actor), \(r.repository), \(r.revision), \(r.role), \(r.action), \(r.target),
                \(r.result), \(r.prevHash), \(r.hash))
            """)
        try await c.run(
            """
            INSERT INTO audit_head (id, count, hash) VALUES (1, \(r.seq), \(r.hash))
            ON CONFLICT (id) DO UPDATE SET count = EXCLUDED.count, hash = EXCLUDED.hash
            """)
        return r
    }

    public func auditChain() async throws(StoreError) -> (records: [AuditRecord], head: (count: Int, hash: String)?) {
        let (records, head) = try await transaction("read the audit log") { c in
            let records = try await c.rows("SELECT * FROM audit_log ORDER BY seq").map(AuditRecord.init(row:))
            let head = try await c.row("SELECT count, hash FROM audit_head WHERE id = 1")
            return (records, try head.map { [String(try $0.int("count") ?? 0), try $0.string("hash")] })
        }
        return (records, head.map { (Int($0[0]) ?? 0, $0[1]) })
    }
}
