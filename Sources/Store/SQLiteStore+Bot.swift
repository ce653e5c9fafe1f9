public import Foundation
internal import GRDB

extension SQLiteStore {
    // MARK: Dedupe keys

    /// Insert-if-absent: the first caller to claim `key` gets `.claimed`; every later caller (in
    /// any process) gets the execution id the key already maps to.
    public func claimDedupeKey(_ key: String, executionID: String) async throws(StoreError) -> DedupeClaim {
        try await write("claim dedupe key \(key)") { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO dedupe_keys (key, execution_id, created) VALUES (?, ?, ?)",
                arguments: [key, executionID, Date().timeIntervalSince1970])
            if db.changesCount > 0 { return .claimed }
            let existing = try String.fetchOne(db, sql: "SELECT execution_id FROM dedupe_keys WHERE key = ?", arguments: [key])
            return .existing(executionID: existing ?? "")
        }
    }

    /// The execution a dedupe key maps to, if claimed.
    public func dedupeKey(_ key: String) async throws(StoreError) -> String? {
        try await read("read dedupe key \(key)") { db in
            try String.fetchOne(db, sql: "SELECT execution_id FROM dedupe_keys WHERE key = ?", arguments: [key])
        }
    }

    /// Sets what `key` maps to, claimed or not: the bot's once-markers (`posting` → `posted`) live next to the
    /// dedupe keys.
    public func setDedupeKey(_ key: String, executionID: String) async throws(StoreError) {
        try await write("set dedupe key \(key)") { db in
            try db.execute(
                sql: """
                    INSERT INTO dedupe_keys (key, execution_id, created) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET execution_id = excluded.execution_id
                    """,
                arguments: [key, executionID, Date().timeIntervalSince1970])
        }
    }

    // MARK: Poll cursors

    public func cursor(server: String, project: String) async throws(StoreError) -> PollCursor? {
        try await read("read the cursor of \(server)/\(project)") { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM poll_cursors WHERE server = ? AND project = ?", arguments: [server, project]
            ).map { try PollCursor(row: Columns($0)) }
        }
    }

    public func setCursor(server: String, project: String, cursor: String, updated: Date) async throws(StoreError) {
        try await write("write the cursor of \(server)/\(project)") { db in
            try db.execute(
                sql: """
                    INSERT INTO poll_cursors (server, project, cursor, updated) VALUES (?, ?, ?, ?)
                    ON CONFLICT (server, project) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated
                    """,
                arguments: [server, project, cursor, updated.timeIntervalSince1970])
        }
    }

    public func cursors() async throws(StoreError) -> [PollCursor] {
        try await read("read cursors") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM poll_cursors ORDER BY server, project").map { try PollCursor(row: Columns($0)) }
        }
    }

    // MARK: Leases

    /// SQLite serialises writers, so reading and taking the lease in one write transaction is the claim.
    public func acquireLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> LeaseClaim {
        try await write("take the lease \(name)") { db in
            let now = Date().timeIntervalSince1970
            let row = try Row.fetchOne(db, sql: "SELECT owner, expires FROM leases WHERE name = ?", arguments: [name])
            let holder: String = row?["owner"] ?? ""
            let expires: Double = row?["expires"] ?? 0
            if holder != owner && expires > now && !holder.isEmpty {
                return .held(by: holder, expires: Date(timeIntervalSince1970: expires))
            }
            let renewing = holder == owner && expires > now
            try db.execute(
                sql: """
                    INSERT INTO leases (name, owner, expires, acquired) VALUES (?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires,
                        acquired = CASE WHEN leases.owner = excluded.owner THEN leases.acquired ELSE excluded.acquired END
                    """,
                arguments: [name, owner, now + ttl, now])
            return renewing ? .renewed : .acquired
        }
    }

    public func renewLease(_ name: String, owner: String, ttl: Double) async throws(StoreError) -> Bool {
        try await write("renew the lease \(name)") { db in
            try db.execute(
                sql: "UPDATE leases SET expires = ? WHERE name = ? AND owner = ?",
                arguments: [Date().timeIntervalSince1970 + ttl, name, owner])
            return db.changesCount > 0
        }
    }

    public func releaseLease(_ name: String, owner: String) async throws(StoreError) {
        try await write("release the lease \(name)") { db in
            try db.execute(sql: "DELETE FROM leases WHERE name = ? AND owner = ?", arguments: [name, owner])
        }
    }

    public func lease(_ name: String) async throws(StoreError) -> LeaseRecord? {
        try await read("read the lease \(name)") { db in
            try Row.fetchOne(db, sql: "SELECT owner, expires FROM leases WHERE name = ?", arguments: [name]).map { row in
                LeaseRecord(name: name, owner: row["owner"], expires: Date(timeIntervalSince1970: row["expires"]))
            }
        }
    }
}
