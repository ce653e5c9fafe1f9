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
            if let ending { try Self.finish(db, id: executionID, ending) }
        }
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
                .map { try StoredCheckpoint(row: Columns($0)) }
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
