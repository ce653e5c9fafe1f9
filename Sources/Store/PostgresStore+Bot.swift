public import Foundation
internal import PostgresNIO

extension PostgresStore {
    // MARK: Dedupe keys

    public func claimDedupeKey(_ key: String, executionID: String) async throws(StoreError) -> DedupeClaim {
        let now = Date().timeIntervalSince1970
        return try await transaction("claim dedupe key \(key)") { c in
            try await Self.claim(c, key: key, executionID: executionID, created: now)
        }
    }

    /// Insert-if-absent of a dedupe key, inside a transaction.
    static func claim(_ c: PostgresConnection, key: String, executionID: String, created: Double) async throws -> DedupeClaim {
        let inserted = try await c.row(
            """
            INSERT INTO dedupe_keys (key, execution_id, created) VALUES (\(key), \(executionID), \(created))
            ON CONFLICT (key) DO NOTHING RETURNING key
            """)
        if inserted != nil { return .claimed }
        let existing = try await c.row("SELECT execution_id FROM dedupe_keys WHERE key = \(key)")
        return .existing(executionID: try existing?.string("execution_id") ?? "")
    }

    public func dedupeKey(_ key: String) async throws(StoreError) -> String? {
        try await transaction("read dedupe key \(key)") { c in
            try await c.row("SELECT execution_id FROM dedupe_keys WHERE key = \(key)")?.text("execution_id")
        }
    }

    public func setDedupeKey(_ key: String, executionID: String) async throws(StoreError) {
        let now = Date().timeIntervalSince1970
        try await transaction("set dedupe key \(key)") { c in
            try await c.run(
                """
                INSERT INTO dedupe_keys (key, execution_id, created) VALUES (\(key), \(executionID), \(now))
                ON CONFLICT (key) DO UPDATE SET execution_id = EXCLUDED.execution_id
                """)
        }
    }

    // MARK: Poll cursors

    public func cursor(server: String, project: String) async throws(StoreError) -> PollCursor? {
        try await transaction("read the cursor of \(server)/\(project)") { c in
            try await c.row("SELECT * FROM poll_cursors WHERE server = \(server) AND project = \(project)").map(PollCursor.init(row:))
        }
    }

    public func setCursor(server: String, project: String, cursor: String, updated: Date) async throws(StoreError) {
        let time = updated.timeIntervalSince1970
        try await transaction("write the cursor of \(server)/\(project)") { c in
            try await c.run(
                """
                INSERT INTO poll_cursors (server, project, cursor, updated) VALUES (\(server), \(project), \(cursor), \(time))
                ON CONFLICT (server, project) DO UPDATE SET cursor = EXCLUDED.cursor, updated = EXCLUDED.updated
                """)
        }
    }

    public func cursors() async throws(StoreError) -> [PollCursor] {
        try await transaction("read cursors") { c in
            try await c.rows("SELECT * FROM poll_cursors ORDER BY server, project").map(PollCursor.init(row:))
        }
    }

    // MARK: The bot's executions

    public func claimBotExecution(_ record: BotReportRecord) async throws(StoreError) -> DedupeClaim {
        try await transaction("claim bot execution \(record.dedupeKey)") { c in
            let claim = try await Self.claim(
                c, key: record.dedupeKey, executionID: record.executionID, created: record.created.timeIntervalSince1970)
            guard claim == .claimed else { return claim }
            try await c.run(
                """
                INSERT INTO bot_reports (execution_id, dedupe_key, review_key, workflow, target, revision_number, commit_id,
                    state, detail, created, updated)
                VALUES (\(record.executionID), \(record.dedupeKey), \(record.reviewKey), \(record.workflow), \(record.target),
                    \(record.revisionNumber), \(record.commitID), \(record.state), \(record.detail),
                    \(record.created.timeIntervalSince1970), \(record.updated.timeIntervalSince1970))
                """)
            return .claimed
        }
    }

    public func botReports(reviewKey: String) async throws(StoreError) -> [BotReportRecord] {
        try await transaction("read the bot executions of \(reviewKey)") { c in
            try await c.rows("SELECT * FROM bot_reports WHERE review_key = \(reviewKey) ORDER BY created, execution_id")
                .map(BotReportRecord.init(row:))
        }
    }

    public func botReports(states: [String]) async throws(StoreError) -> [BotReportRecord] {
        try await transaction("read bot executions") { c in
            try await c.rows("SELECT * FROM bot_reports WHERE state = ANY(\(states)) ORDER BY created, execution_id")
                .map(BotReportRecord.init(row:))
        }
    }

    public func botReport(executionID: String) async throws(StoreError) -> BotReportRecord? {
        try await transaction("read bot execution \(executionID)") { c in
            try await c.row("SELECT * FROM bot_reports WHERE execution_id = \(executionID)").map(BotReportRecord.init(row:))
        }
    }

    @discardableResult
    public func setBotReportState(executionID: String, state: String, detail: String?, from: [String]?, at now: Date)
        async throws(StoreError) -> Bool
    {
        let time = now.timeIntervalSince1970
        let postingSince: Double? = state == "posting" ? time : nil
        let guarded = from.flatMap { $0.isEmpty ? nil : $0 }
        return try await transaction("update the report of \(executionID)") { c in
            let changed: PostgresColumns?
            if let guarded {
                changed = try await c.row(
                    """
                    UPDATE bot_reports SET state = \(state), detail = COALESCE(\(detail), detail), updated = \(time),
                        posting_since = COALESCE(\(postingSince), posting_since)
                    WHERE execution_id = \(executionID) AND state = ANY(\(guarded)) RETURNING execution_id
                    """)
            } else {
                changed = try await c.row(
                    """
                    UPDATE bot_reports SET state = \(state), detail = COALESCE(\(detail), detail), updated = \(time),
                        posting_since = COALESCE(\(postingSince), posting_since)
                    WHERE execution_id = \(executionID) RETURNING execution_id
                    """)
            }
            return changed != nil
        }
    }

    @discardableResult
    public func reopenBotReport(executionID: String, detail: String) async throws(StoreError) -> Bool {
        let now = Date().timeIntervalSince1970
        return try await transaction("reopen the report of \(executionID)") { c in
            try await c.row(
                """
                UPDATE bot_reports SET state = 'pending', detail = \(detail), posting_since = NULL, updated = \(now)
                WHERE execution_id = \(executionID) AND state IN ('posted', 'skipped', 'cancelled') RETURNING execution_id
                """) != nil
        }
    }

    public func setBotReportCommit(executionID: String, commitID: String) async throws(StoreError) {
        let now = Date().timeIntervalSince1970
        try await transaction("record the commit of \(executionID)") { c in
            try await c.run("UPDATE bot_reports SET commit_id = \(commitID), updated = \(now) WHERE execution_id = \(executionID)")
        }
    }

    // MARK: Leases

    /// The lease row is made to exist, then locked with `FOR UPDATE SKIP LOCKED`: a contender that finds it
    /// locked (another process is claiming it right now) does not wait and is told it is held. Expiry is read
    /// on the server's clock, so replicas on several machines agree on it.
    public func acquireLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> LeaseClaim {
        try await transaction("take the lease \(name)") { c in
            try await c.run(
                "INSERT INTO leases (name, owner, expires, acquired) VALUES (\(name), '', 0, 0) ON CONFLICT (name) DO NOTHING")
            guard
                let row = try await c.row(
                    """
                    SELECT owner, expires, extract(epoch FROM clock_timestamp())::float8 AS now FROM leases
                    WHERE name = \(name) FOR UPDATE SKIP LOCKED
                    """)
            else { return .held(by: "another process", expires: Date()) }
            let (holder, expires, now) = (try row.string("owner"), try row.double("expires") ?? 0, try row.double("now") ?? 0)
            if holder != owner && expires > now && !holder.isEmpty {
                return .held(by: holder, expires: Date(timeIntervalSince1970: expires))
            }
            try await c.run(
                """
                UPDATE leases SET owner = \(owner), expires = \(now + ttl),
                    acquired = CASE WHEN owner = \(owner) THEN acquired ELSE \(now) END
                WHERE name = \(name)
                """)
            return holder == owner && expires > now ? .renewed : .acquired
        }
    }

    public func renewLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> Bool {
        try await transaction("renew the lease \(name)") { c in
            try await c.row(
                """
                UPDATE leases SET expires = extract(epoch FROM clock_timestamp())::float8 + \(ttl)
                WHERE name = \(name) AND owner = \(owner) RETURNING name
                """) != nil
        }
    }

    public func releaseLease(_ name: String, owner: String) async throws(StoreError) {
        try await transaction("release the lease \(name)") { c in
            try await c.run("DELETE FROM leases WHERE name = \(name) AND owner = \(owner)")
        }
    }

    public func lease(_ name: String) async throws(StoreError) -> LeaseRecord? {
        try await transaction("read the lease \(name)") { c in
            guard let row = try await c.row("SELECT * FROM leases WHERE name = \(name) AND owner <> ''") else { return nil }
            return LeaseRecord(name: name, owner: try row.string("owner"), expires: try row.date("expires"))
        }
    }
}
