import Foundation
internal import GRDB
public import StatesLanguage

extension SQLiteStore {
    // MARK: Executions

    /// Creates a RUNNING execution row; the definition's SHA-256 is computed here.
    public func createExecution(_ e: NewExecution) async throws(StoreError) {
        let hash = StoredJSON.sha256Hex(e.definition)
        try await write("create execution \(e.id)") { db in
            try db.execute(
                sql: """
                    INSERT INTO executions (id, workflow, repository, revision, trigger, input, status, started, definition, definition_hash, plan)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    e.id, e.workflow, e.repository, e.revision, e.trigger.serialized, e.input.serialized,
                    ExecutionStatus.running.rawValue, e.started.timeIntervalSince1970, e.definition, hash, e.plan?.serialized,
                ])
        }
    }

    public func execution(id: String) async throws(StoreError) -> ExecutionRecord? {
        try await read("read execution \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM executions WHERE id = ?", arguments: [id]).map(Self.execution)
        }
    }

    /// Executions, newest first, optionally only those with `status`.
    public func executions(status: ExecutionStatus?, limit: Int) async throws(StoreError) -> [ExecutionRecord] {
        try await read("list executions") { db in
            let rows: [Row]
            if let status {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM executions WHERE status = ? ORDER BY started DESC, id LIMIT ?",
                    arguments: [status.rawValue, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM executions ORDER BY started DESC, id LIMIT ?", arguments: [limit])
            }
            return try rows.map(Self.execution)
        }
    }

    /// Ends an execution. Idempotent: an execution that already ended keeps its first ending.
    public func finishExecution(id: String, _ ending: ExecutionEnding) async throws(StoreError) {
        try await write("finish execution \(id)") { db in
            try Self.finish(db, id: id, ending)
        }
    }

    static func finish(_ db: Database, id: String, _ ending: ExecutionEnding) throws {
        try db.execute(
            sql: """
                UPDATE executions SET status = ?, output = ?, error = ?, cause = ?, finished = ?
                WHERE id = ? AND status = 'RUNNING'
                """,
            arguments: [
                ending.status.rawValue, ending.output?.serialized, ending.error, ending.cause,
                ending.finished.timeIntervalSince1970, id,
            ])
    }

    static func execution(_ row: Row) throws -> ExecutionRecord {
        try ExecutionRecord(row: Columns(row))
    }

    // MARK: Transitions: history and checkpoint

    /// Writes a transition in ONE transaction: the events recorded since the last checkpoint,
    /// the new checkpoint, and, when the execution has ended, its ending. Replayed events (same
    /// number after a resume) replace the earlier copy.
    public func recordTransition(
        executionID: String, events: [StoredEvent], checkpoint: StoredCheckpoint?, ending: ExecutionEnding?
    ) async throws(StoreError) {
        try await write("record a transition of execution \(executionID)") { db in
            for e in events {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO events (execution_id, seq, type, json) VALUES (?, ?, ?, ?)",
                    arguments: [executionID, e.seq, e.type, e.json.serialized])
            }
            if let c = checkpoint {
                if c.stateName == nil {
                    // The execution ended: the state it was in is where a redrive starts again.
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO redrive_points
                                SELECT execution_id, state_name, input, variables, event_count, transitions, updated
                                FROM checkpoints WHERE execution_id = ? AND state_name IS NOT NULL
                            """,
                        arguments: [executionID])
                }
                try Self.writeCheckpoint(db, executionID: executionID, c)
            }
            if let ending { try Self.finish(db, id: executionID, ending) }
        }
    }

    static func writeCheckpoint(_ db: Database, executionID: String, _ c: StoredCheckpoint) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO checkpoints (execution_id, state_name, input, variables, event_count, transitions, updated)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                executionID, c.stateName, c.input.serialized, StoredJSON.variables(c.variables), c.eventCount, c.transitions,
                Date().timeIntervalSince1970,
            ])
    }

    public func events(executionID: String) async throws(StoreError) -> [StoredEvent] {
        try await read("read the history of execution \(executionID)") { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, type, json FROM events WHERE execution_id = ? ORDER BY seq", arguments: [executionID]
            ).map { try StoredEvent(row: Columns($0)) }
        }
    }

    public func checkpoint(executionID: String) async throws(StoreError) -> StoredCheckpoint? {
        try await read("read the checkpoint of execution \(executionID)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM checkpoints WHERE execution_id = ?", arguments: [executionID])
                .map(Self.checkpoint)
        }
    }

    static func checkpoint(_ row: Row) throws -> StoredCheckpoint {
        try StoredCheckpoint(row: Columns(row))
    }

    // MARK: Redrive

    /// The checkpoint of the state an ended execution was in (where a redrive starts): the one kept when the
    /// execution's final checkpoint was written, else its last checkpoint when that names a state (an execution
    /// aborted or timed out from outside). Nil when it ended in its first state.
    public func redrivePoint(executionID: String) async throws(StoreError) -> StoredCheckpoint? {
        try await read("read the redrive point of execution \(executionID)") { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM redrive_points WHERE execution_id = ?", arguments: [executionID]) {
                return try Self.checkpoint(row)
            }
            return try Row.fetchOne(
                db, sql: "SELECT * FROM checkpoints WHERE execution_id = ? AND state_name IS NOT NULL", arguments: [executionID]
            ).map(Self.checkpoint)
        }
    }

    /// Turns an ended execution back to RUNNING, to be resumed from `point` (AWS's RedriveExecution), in ONE
    /// transaction: the status must still be one of `from`; `event(seq, count)` (the redrive's history event) is
    /// appended after the history; the checkpoint becomes `point` with the event count after that event; the results
    /// of the tasks that failed and the approvals that were rejected or timed out are forgotten (they run again),
    /// those that succeeded are kept; the redrive count goes up; `audit` is appended.
    /// - Returns: the new redrive count.
    /// - Throws: `.conflict` when the execution is no longer in one of `from`; `.notFound` when it does not exist.
    public func beginRedrive(
        executionID: String, from: [ExecutionStatus], point: StoredCheckpoint,
        event: @escaping @Sendable (_ seq: Int, _ count: Int) -> StoredEvent, audit: AuditEntry
    ) async throws(StoreError) -> Int {
        try await write("redrive execution \(executionID)") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT status, redrive_count FROM executions WHERE id = ?", arguments: [executionID])
            else { throw StoreError(.notFound, "no execution \(executionID)") }
            let status: String = row["status"] ?? ""
            guard from.map(\.rawValue).contains(status) else {
                throw StoreError(.conflict, "execution \(executionID) is \(status) and cannot be redriven")
            }
            let count = (row["redrive_count"] as Int? ?? 0) + 1
            let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM events WHERE execution_id = ?", arguments: [executionID]) ?? 0
            let e = event(last + 1, count)
            try db.execute(
                sql: "INSERT OR REPLACE INTO events (execution_id, seq, type, json) VALUES (?, ?, ?, ?)",
                arguments: [executionID, e.seq, e.type, e.json.serialized])
            var checkpoint = point
            checkpoint.eventCount = e.seq
            try Self.writeCheckpoint(db, executionID: executionID, checkpoint)
            try db.execute(sql: "DELETE FROM task_results WHERE execution_id = ? AND error IS NOT NULL", arguments: [executionID])
            try db.execute(
                sql: "DELETE FROM approvals WHERE execution_id = ? AND status IN ('rejected', 'timed-out')", arguments: [executionID])
            try db.execute(
                sql: """
                    UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, finished = NULL,
                        redrive_count = ? WHERE id = ?
                    """,
                arguments: [count, executionID])
            _ = try AuditLog.append(audit, in: db)
            return count
        }
    }

    // MARK: Task results (memoisation)

    public func taskResult(executionID: String, key: String) async throws(StoreError) -> TaskOutcome? {
        try await read("read task result \(key)") { db in
            try Row.fetchOne(
                db, sql: "SELECT result, error, cause FROM task_results WHERE execution_id = ? AND task_key = ?",
                arguments: [executionID, key]
            ).map { try TaskOutcome(row: Columns($0)) }
        }
    }

    /// Remembers a finished task, and appends its audit entry in the same transaction. The first
    /// record for a key wins.
    public func recordTaskResult(
        executionID: String, key: String, outcome: TaskOutcome, audit: AuditEntry?
    ) async throws(StoreError) {
        let (result, error, cause) = outcome.columns
        try await write("record task result \(key)") { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO task_results (execution_id, task_key, result, error, cause, recorded)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [executionID, key, result, error, cause, Date().timeIntervalSince1970])
            if let audit, db.changesCount > 0 { _ = try AuditLog.append(audit, in: db) }
        }
    }
}
