import Foundation
internal import Crypto
import StatesLanguage

/// The PostgreSQL schema: the SQLite store's tables, migration for migration (same names, same columns, times
/// as epoch seconds), plus what several processes need: an append-only audit log enforced by a trigger, and
/// leases.
enum PostgresSchema {
    /// The advisory lock held while migrating.
    static let migrationLock = 0x5354_4550_0001
    /// The advisory lock held while appending to the audit log (keeps the chain linear across processes).
    static let auditLock = 0x5354_4550_0002

    static let migrations: [(name: String, statements: [String])] = [
        (
            "v1",
            [
                """
                CREATE TABLE executions (
                    id TEXT PRIMARY KEY NOT NULL, workflow TEXT NOT NULL, repository TEXT, revision TEXT,
                    trigger TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
                    started DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION,
                    definition TEXT NOT NULL, definition_hash TEXT NOT NULL)
                """,
                "CREATE INDEX executions_status ON executions(status, started)",
                """
                CREATE TABLE events (
                    execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE, seq BIGINT NOT NULL,
                    type TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (execution_id, seq))
                """,
                """
                CREATE TABLE checkpoints (
                    execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                    state_name TEXT, input TEXT NOT NULL, variables TEXT NOT NULL, event_count BIGINT NOT NULL,
                    transitions BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE task_results (
                    execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE, task_key TEXT NOT NULL,
                    result TEXT, error TEXT, cause TEXT, recorded DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (execution_id, task_key))
                """,
                "CREATE TABLE dedupe_keys (key TEXT PRIMARY KEY NOT NULL, execution_id TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
                """
                CREATE TABLE poll_cursors (
                    server TEXT NOT NULL, project TEXT NOT NULL, cursor TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (server, project))
                """,
                """
                CREATE TABLE approvals (
                    execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE, task_key TEXT NOT NULL,
                    token TEXT NOT NULL UNIQUE, message TEXT NOT NULL, approvers TEXT NOT NULL, status TEXT NOT NULL,
                    decided_by TEXT, comment TEXT, created DOUBLE PRECISION NOT NULL, deadline DOUBLE PRECISION NOT NULL,
                    decided DOUBLE PRECISION, PRIMARY KEY (execution_id, task_key))
                """,
                "CREATE INDEX approvals_status ON approvals(status)",
                """
                CREATE TABLE comments (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE, task_key TEXT NOT NULL,
                    message TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL,
                    UNIQUE (execution_id, task_key))
                """,
                """
                CREATE TABLE audit_log (
                    seq BIGINT PRIMARY KEY NOT NULL, time TEXT NOT NULL, actor TEXT NOT NULL, repository TEXT NOT NULL,
                    revision TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
                    result TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
                """,
                "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), count BIGINT NOT NULL, hash TEXT NOT NULL)",
                """
                CREATE FUNCTION stepgate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                """,
                """
                CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                    FOR EACH ROW EXECUTE FUNCTION stepgate_audit_append_only()
                """,
            ]
        ),
        (
            "v2",
            [
                """
                CREATE TABLE bot_reports (
                    execution_id TEXT PRIMARY KEY NOT NULL, dedupe_key TEXT NOT NULL UNIQUE, review_key TEXT NOT NULL,
                    workflow TEXT NOT NULL, target TEXT NOT NULL, revision_number BIGINT NOT NULL, commit_id TEXT,
                    state TEXT NOT NULL, detail TEXT, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX bot_reports_review ON bot_reports(review_key)",
                "CREATE INDEX bot_reports_state ON bot_reports(state)",
            ]
        ),
        (
            "v3",
            [
                "ALTER TABLE executions ADD COLUMN plan TEXT",
                "ALTER TABLE approvals ADD COLUMN required BIGINT NOT NULL DEFAULT 1",
                "ALTER TABLE approvals ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]'",
                """
                CREATE TABLE approval_votes (
                    execution_id TEXT NOT NULL, task_key TEXT NOT NULL, voter TEXT NOT NULL, approve INTEGER NOT NULL,
                    comment TEXT, time DOUBLE PRECISION NOT NULL, PRIMARY KEY (execution_id, task_key, voter),
                    FOREIGN KEY (execution_id, task_key) REFERENCES approvals(execution_id, task_key) ON DELETE CASCADE)
                """,
            ]
        ),
        (
            "v4",
            [
                "ALTER TABLE executions ADD COLUMN redrive_count BIGINT NOT NULL DEFAULT 0",
                """
                CREATE TABLE redrive_points (
                    execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                    state_name TEXT NOT NULL, input TEXT NOT NULL, variables TEXT NOT NULL, event_count BIGINT NOT NULL,
                    transitions BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL)
                """,
                "ALTER TABLE bot_reports ADD COLUMN posting_since DOUBLE PRECISION",
                """
                CREATE TABLE bot_notices (
                    key TEXT PRIMARY KEY NOT NULL, server TEXT NOT NULL, target TEXT NOT NULL, message TEXT NOT NULL,
                    findings TEXT, comment_id BIGINT, state TEXT NOT NULL, posting_since DOUBLE PRECISION,
                    created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX bot_notices_state ON bot_notices(state, server)",
            ]
        ),
        (
            "leases",
            [
                """
                CREATE TABLE leases (
                    name TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL,
                    acquired DOUBLE PRECISION NOT NULL)
                """
            ]
        ),
    ]
}

/// JSON and hashes as both stores keep them.
enum StoredJSON {
    /// Parses a stored JSON column; nil is `null`.
    static func parse(_ text: String?, column: String) throws -> JSON {
        guard let text else { return .null }
        do { return try JSONParser.parse(text) } catch {
            throw StoreError(.invalidData, "stored \(column) is not valid JSON: \(error.message)")
        }
    }

    /// A checkpoint's variables as stored: one JSON object with sorted keys.
    static func variables(_ variables: [String: JSON]) -> String {
        JSON.object(JSONObject(variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })).serialized
    }

    /// Reads back ``variables(_:)``.
    static func variables(from text: String?) throws -> [String: JSON] {
        var variables: [String: JSON] = [:]
        if case .object(let o) = try parse(text, column: "variables") {
            for (k, v) in o.pairs { variables[k] = v }
        }
        return variables
    }

    /// A list of strings kept as a JSON array (approvers, excluded identities).
    static func strings(_ text: String?, column: String) throws -> [String] {
        try parse(text, column: column).arrayValue?.compactMap(\.stringValue) ?? []
    }

    static func strings(_ values: [String]) -> String {
        JSON.array(values.map(JSON.string)).serialized
    }

    static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
    }
}
