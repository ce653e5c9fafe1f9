public import Foundation
internal import PostgresNIO
public import StatesLanguage

extension PostgresStore {
    // MARK: Executions

    public func createExecution(_ e: NewExecution) async throws(StoreError) {
        let hash = StoredJSON.sha256Hex(e.definition)
        let (trigger, input, plan) = (e.trigger.serialized, e.input.serialized, e.plan?.serialized)
        let status = ExecutionStatus.running.rawValue
        try await transaction("create execution \(e.id)") { c in
            try await c.run(
                """
                INSERT INTO executions (id, workflow, repository, revision, trigger, input, status, started, definition,
                    definition_hash, plan)
                VALUES (\(e.id), \(e.workflow), \(e.repository), \(e.revision), \(trigger), \(input), \(status),
                    \(e.started.timeIntervalSince1970), \(e.definition), \(hash), \(plan))
                """)
        }
    }

    public func execution(id: String) async throws(StoreError) -> ExecutionRecord? {
        try await transaction("read execution \(id)") { c in
            try await c.row("SELECT * FROM executions WHERE id = \(id)").map(ExecutionRecord.init(row:))
        }
    }

    public func executions(status: ExecutionStatus?, limit: Int) async throws(StoreError) -> [ExecutionRecord] {
        try await transaction("list executions") { c in
            if let status {
                return try await c.rows(
                    "SELECT * FROM executions WHERE status = \(status.rawValue) ORDER BY started DESC, id LIMIT \(limit)"
                ).map(ExecutionRecord.init(row:))
            }
            return try await c.rows("SELECT * FROM executions ORDER BY started DESC, id LIMIT \(limit)").map(ExecutionRecord.init(row:))
        }
    }

    public func finishExecution(id: String, _ ending: ExecutionEnding) async throws(StoreError) {
        try await transaction("finish execution \(id)") { c in try await Self.finish(c, id: id, ending) }
    }

    static func finish(_ c: PostgresConnection, id: String, _ ending: ExecutionEnding) async throws {
        let output = ending.output?.serialized
        try await c.run(
            """
            UPDATE executions SET status = \(ending.status.rawValue), output = \(output), error = \(ending.error),
                cause = \(ending.cause), finished = \(ending.finished.timeIntervalSince1970)
            WHERE id = \(id) AND status = 'RUNNING'
            """)
    }

    // MARK: Transitions

    public func recordTransition(
        executionID: String, events: [StoredEvent], checkpoint: StoredCheckpoint?, ending: ExecutionEnding?
    ) async throws(StoreError) {
        try await transaction("record a transition of execution \(executionID)") { c in
            for e in events {
                let json = e.json.serialized
                try await c.run(
                    """
                    INSERT INTO events (execution_id, seq, type, json) VALUES (\(executionID), \(e.seq), \(e.type), \(json))
                    ON CONFLICT (execution_id, seq) DO UPDATE SET type = EXCLUDED.type, json = EXCLUDED.json
                    """)
            }
            if let cp = checkpoint {
                if cp.stateName == nil {
                    // The execution ended: the state it was in is where a redrive starts again.
                    try await c.run(
                        """
                        INSERT INTO redrive_points
                            SELECT execution_id, state_name, input, variables, event_count, transitions, updated
                            FROM checkpoints WHERE execution_id = \(executionID) AND state_name IS NOT NULL
                        ON CONFLICT (execution_id) DO UPDATE SET state_name = EXCLUDED.state_name, input = EXCLUDED.input,
                            variables = EXCLUDED.variables, event_count = EXCLUDED.event_count,
                            transitions = EXCLUDED.transitions, updated = EXCLUDED.updated
                        """)
                }
                try await Self.writeCheckpoint(c, executionID: executionID, cp)
            }
            if let ending { try await Self.finish(c, id: executionID, ending) }
        }
    }

    static func writeCheckpoint(_ c: PostgresConnection, executionID: String, _ cp: StoredCheckpoint) async throws {
        let (input, variables, now) = (cp.input.serialized, StoredJSON.variables(cp.variables), Date().timeIntervalSince1970)
        try await c.run(
            """
            INSERT INTO checkpoints (execution_id, state_name, input, variables, event_count, transitions, updated)
            VALUES (\(executionID), \(cp.stateName), \(input), \(variables), \(cp.eventCount), \(cp.transitions), \(now))
            ON CONFLICT (execution_id) DO UPDATE SET state_name = EXCLUDED.state_name, input = EXCLUDED.input,
                variables = EXCLUDED.variables, event_count = EXCLUDED.event_count,
                transitions = EXCLUDED.transitions, updated = EXCLUDED.updated
            """)
    }

    public func events(executionID: String) async throws(StoreError) -> [StoredEvent] {
        try await transaction("read the history of execution \(executionID)") { c in
            try await c.rows("SELECT seq, type, json FROM events WHERE execution_id = \(executionID) ORDER BY seq")
                .map(StoredEvent.init(row:))
        }
    }

    public func checkpoint(executionID: String) async throws(StoreError) -> StoredCheckpoint? {
        try await transaction("read the checkpoint of execution \(executionID)") { c in
            try await c.row("SELECT * FROM checkpoints WHERE execution_id = \(executionID)").map(StoredCheckpoint.init(row:))
        }
    }

    // MARK: Redrive

    public func redrivePoint(executionID: String) async throws(StoreError) -> StoredCheckpoint? {
        try await transaction("read the redrive point of execution \(executionID)") { c in
            if let row = try await c.row("SELECT * FROM redrive_points WHERE execution_id = \(executionID)") {
                return try StoredCheckpoint(row: row)
            }
            return try await c.row("SELECT * FROM checkpoints WHERE execution_id = \(executionID) AND state_name IS NOT NULL")
                .map(StoredCheckpoint.init(row:))
        }
    }

    public func beginRedrive(
        executionID: String, from: [ExecutionStatus], point: StoredCheckpoint,
        event: @escaping @Sendable (_ seq: Int, _ count: Int) -> StoredEvent, audit: AuditEntry
    ) async throws(StoreError) -> Int {
        try await transaction("redrive execution \(executionID)") { c in
            guard let row = try await c.row("SELECT status, redrive_count FROM executions WHERE id = \(executionID) FOR UPDATE")
            else { throw StoreError(.notFound, "no execution \(executionID)") }
            let status = try row.string("status")
            guard from.map(\.rawValue).contains(status) else {
                throw StoreError(.conflict, "execution \(executionID) is \(status) and cannot be redriven")
            }
            let count = (try row.int("redrive_count") ?? 0) + 1
            let last = try await c.row("SELECT MAX(seq) AS last FROM events WHERE execution_id = \(executionID)")?.int("last") ?? 0
            let e = event(last + 1, count)
            let json = e.json.serialized
            try await c.run(
                """
                INSERT INTO events (execution_id, seq, type, json) VALUES (\(executionID), \(e.seq), \(e.type), \(json))
                ON CONFLICT (execution_id, seq) DO UPDATE SET type = EXCLUDED.type, json = EXCLUDED.json
                """)
            var checkpoint = point
            checkpoint.eventCount = e.seq
            try await Self.writeCheckpoint(c, executionID: executionID, checkpoint)
            try await c.run("DELETE FROM task_results WHERE execution_id = \(executionID) AND error IS NOT NULL")
            try await c.run("DELETE FROM approvals WHERE execution_id = \(executionID) AND status IN ('rejected', 'timed-out')")
            try await c.run(
                """
                UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, finished = NULL,
                    redrive_count = \(count) WHERE id = \(executionID)
                """)
            _ = try await Self.appendAudit(audit, in: c)
            return count
        }
    }

    // MARK: Task results

    public func taskResult(executionID: String, key: String) async throws(StoreError) -> TaskOutcome? {
        try await transaction("read task result \(key)") { c in
            try await c.row("SELECT result, error, cause FROM task_results WHERE execution_id = \(executionID) AND task_key = \(key)")
                .map(TaskOutcome.init(row:))
        }
    }

    public func recordTaskResult(executionID: String, key: String, outcome: TaskOutcome, audit: AuditEntry?) async throws(StoreError) {
        let (result, error, cause) = outcome.columns
        let now = Date().timeIntervalSince1970
        try await transaction("record task result \(key)") { c in
            let inserted = try await c.row(
                """
                INSERT INTO task_results (execution_id, task_key, result, error, cause, recorded)
                VALUES (\(executionID), \(key), \(result), \(error), \(cause), \(now))
                ON CONFLICT (execution_id, task_key) DO NOTHING RETURNING task_key
                """)
            if let audit, inserted != nil { _ = try await Self.appendAudit(audit, in: c) }
        }
    }
}
