public import Foundation
internal import GRDB
import StatesLanguage

/// The embedded store: one SQLite file in WAL mode, shared safely by several processes
/// (the bot, `stepgate executions approve`, a resuming `stepgate executions resume`).
///
/// Every method is `async` and runs its SQL on GRDB's own serial queues, so callers on the
/// cooperative pool never block on SQLite. Errors are ``StoreError``s whose message names
/// the file.
public final class SQLiteStore: ExecutionStore {
    /// The database file.
    public let path: String
    /// Where each new audit head is appended (the location's `audit-head`), if anywhere.
    public let auditHeadFile: String?

    public var privateFiles: [String] { [path, path + "-wal", path + "-shm"] + (auditHeadFile.map { [$0] } ?? []) }
    let pool: DatabasePool

    /// The newest schema version this build writes.
    public static let schemaVersion = "leases"

    /// Opens (creating when absent) the store at `url`: `sqlite:///abs/path.db`, or a plain path.
    /// Parent directories are created. A file that is not a database, or a database from a newer
    /// stepgate, is reported as one ``StoreError``, never a crash.
    public convenience init(url: String, busyTimeout: TimeInterval = 10) throws(StoreError) {
        try self.init(location: StoreLocation(parsing: url), busyTimeout: busyTimeout)
    }

    /// Opens (creating when absent) the store at `location`. A new file is made 0600 (and new
    /// directories 0700) whatever the umask; SQLite gives its -wal and -shm files the same mode.
    public init(location: StoreLocation, busyTimeout: TimeInterval = 10) throws(StoreError) {
        guard case .sqlite(let path, _) = location else {
            throw StoreError(.badLocation, "\(location.path): not an SQLite store (open it with openStore(url:))")
        }
        self.path = path
        self.auditHeadFile = location.auditHeadFile
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try PrivateFiles.createDirectories(directory.path)
        } catch {
            throw StoreError(.cannotOpen, "\(path): cannot create the directory \(directory.path): \(error)")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw StoreError(.cannotOpen, "\(path): is a directory, not a database file")
        }
        do {
            try PrivateFiles.createFile(path)
        } catch {
            throw StoreError(.cannotOpen, "\(path): cannot create the database file: \(error)")
        }
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.label = "stepgate.store"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        // Several processes may open a new store at the same moment (the bot and `executions
        // approve`, two hooks on a first push): opening and migrating happen under an exclusive
        // lock on the store's directory, so one process creates the schema and the others wait.
        let lock = try Self.lockDirectory(directory.path, for: path)
        defer { Self.unlock(lock) }
        let opened: DatabasePool
        do {
            opened = try DatabasePool(path: path, configuration: config)
        } catch {
            throw Self.map(error, path: path, doing: "cannot open the store")
        }
        pool = opened
        if let headFile = location.auditHeadFile {
            opened.add(transactionObserver: AuditHeadWriter(file: headFile), extent: .databaseLifetime)
        }
        do {
            let migrator = Self.migrator
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw StoreError(.tooNew, "\(path): the store was written by a newer stepgate (unknown schema version)")
            }
            try migrator.migrate(pool)
        } catch {
            throw Self.map(error, path: path, doing: "cannot prepare the store")
        }
    }

    /// Takes an exclusive `flock` on `directory` (blocking); the database file itself is never
    /// opened a second time, since closing another descriptor of it would drop SQLite's own locks.
    static func lockDirectory(_ directory: String, for path: String) throws(StoreError) -> Int32 {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw StoreError(.cannotOpen, "\(path): cannot open the directory \(directory): \(String(cString: strerror(errno)))")
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StoreError(.cannotOpen, "\(path): cannot lock the directory \(directory): \(reason)")
        }
        return fd
    }

    static func unlock(_ fd: Int32) {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    /// The schema versions applied to this file, oldest first.
    public func appliedMigrations() async throws(StoreError) -> [String] {
        let migrator = Self.migrator
        return try await read("read the schema version") { db in try migrator.appliedMigrations(db) }
    }

    /// Runs SQLite's own consistency check; returns the problems it names (empty when sound).
    public func integrityCheck() async throws(StoreError) -> [String] {
        try await read("check integrity") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
        }
    }

    // MARK: - Plumbing

    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch { throw Self.map(error, path: path, doing: what) }
    }

    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.write(body) } catch { throw Self.map(error, path: path, doing: what) }
    }

    static func map(_ error: any Error, path: String, doing what: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if error is CancellationError { return StoreError(.database, "\(path): \(what): cancelled") }
        if let e = error as? DatabaseError {
            let detail = e.message ?? "SQLite error \(e.resultCode.rawValue)"
            switch e.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return StoreError(.corrupt, "\(path): not a usable stepgate store (\(detail))")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(.busy, "\(path): \(what): the database is busy (\(detail))")
            case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
                return StoreError(.cannotOpen, "\(path): \(what): \(detail)")
            case .SQLITE_CONSTRAINT:
                return StoreError(.conflict, "\(path): \(what): \(detail)")
            default:
                return StoreError(.database, "\(path): \(what): \(detail)")
            }
        }
        return StoreError(.database, "\(path): \(what): \(error)")
    }

    /// A GRDB row read by column name, for the records both stores decode alike.
    struct Columns: StoreRow {
        let row: Row
        init(_ row: Row) { self.row = row }
        func text(_ name: String) throws -> String? { row[name] }
        func int(_ name: String) throws -> Int? { row[name] }
        func double(_ name: String) throws -> Double? { row[name] }
    }

    // MARK: - Schema

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE executions (
                        id TEXT PRIMARY KEY NOT NULL,
                        workflow TEXT NOT NULL,
                        repository TEXT,
                        revision TEXT,
                        trigger TEXT NOT NULL,
                        input TEXT NOT NULL,
                        status TEXT NOT NULL,
                        output TEXT,
                        error TEXT,
                        cause TEXT,
                        started REAL NOT NULL,
                        finished REAL,
                        definition TEXT NOT NULL,
                        definition_hash TEXT NOT NULL);
                    CREATE INDEX executions_status ON executions(status, started);
                    CREATE TABLE events (
                        execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        json TEXT NOT NULL,
                        PRIMARY KEY (execution_id, seq)) WITHOUT ROWID;
                    CREATE TABLE checkpoints (
                        execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        state_name TEXT,
                        input TEXT NOT NULL,
                        variables TEXT NOT NULL,
                        event_count INTEGER NOT NULL,
                        transitions INTEGER NOT NULL,
                        updated REAL NOT NULL);
                    CREATE TABLE task_results (
                        execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        task_key TEXT NOT NULL,
                        result TEXT,
                        error TEXT,
                        cause TEXT,
                        recorded REAL NOT NULL,
                        PRIMARY KEY (execution_id, task_key)) WITHOUT ROWID;
                    CREATE TABLE dedupe_keys (
                        key TEXT PRIMARY KEY NOT NULL,
                        execution_id TEXT NOT NULL,
                        created REAL NOT NULL);
                    CREATE TABLE poll_cursors (
                        server TEXT NOT NULL,
                        project TEXT NOT NULL,
                        cursor TEXT NOT NULL,
                        updated REAL NOT NULL,
                        PRIMARY KEY (server, project));
                    CREATE TABLE approvals (
                        execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        task_key TEXT NOT NULL,
                        token TEXT NOT NULL UNIQUE,
                        message TEXT NOT NULL,
                        approvers TEXT NOT NULL,
                        status TEXT NOT NULL,
                        decided_by TEXT,
                        comment TEXT,
                        created REAL NOT NULL,
                        deadline REAL NOT NULL,
                        decided REAL,
                        PRIMARY KEY (execution_id, task_key));
                    CREATE INDEX approvals_status ON approvals(status);
                    CREATE TABLE comments (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        task_key TEXT NOT NULL,
                        message TEXT NOT NULL,
                        delivered INTEGER NOT NULL DEFAULT 0,
                        created REAL NOT NULL,
                        UNIQUE (execution_id, task_key));
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        time TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        repository TEXT NOT NULL,
                        revision TEXT NOT NULL,
                        role TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        result TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL);
                    CREATE TABLE audit_head (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        count INTEGER NOT NULL,
                        hash TEXT NOT NULL);
                    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """)
        }
        m.registerMigration("v2") { db in
            // The bot's executions: where each reports, and whether its report was posted (never twice).
            try db.execute(
                sql: """
                    CREATE TABLE bot_reports (
                        execution_id TEXT PRIMARY KEY NOT NULL,
                        dedupe_key TEXT NOT NULL UNIQUE,
                        review_key TEXT NOT NULL,
                        workflow TEXT NOT NULL,
                        target TEXT NOT NULL,
                        revision_number INTEGER NOT NULL,
                        commit_id TEXT,
                        state TEXT NOT NULL,
                        detail TEXT,
                        created REAL NOT NULL,
                        updated REAL NOT NULL);
                    CREATE INDEX bot_reports_review ON bot_reports(review_key);
                    CREATE INDEX bot_reports_state ON bot_reports(state);
                    """)
        }
        m.registerMigration("v3") { db in
            // The plan a run was started with (how to rebuild its task resources on resume, never a
            // secret), approvals needing several distinct approvers or excluding the change's owner,
            // and the votes cast on them.
            try db.execute(
                sql: """
                    ALTER TABLE executions ADD COLUMN plan TEXT;
                    ALTER TABLE approvals ADD COLUMN required INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE approvals ADD COLUMN excluded TEXT NOT NULL DEFAULT '[]';
                    CREATE TABLE approval_votes (
                        execution_id TEXT NOT NULL,
                        task_key TEXT NOT NULL,
                        voter TEXT NOT NULL,
                        approve INTEGER NOT NULL,
                        comment TEXT,
                        time REAL NOT NULL,
                        PRIMARY KEY (execution_id, task_key, voter),
                        FOREIGN KEY (execution_id, task_key) REFERENCES approvals(execution_id, task_key) ON DELETE CASCADE);
                    """)
        }
        m.registerMigration("v4") { db in
            // Redrive (AWS's RedriveExecution): how often an execution was redriven, and the checkpoint of the
            // state it failed in (kept when the final checkpoint replaces it). When a bot report's post began
            // (a post whose outcome is unknown is looked for on the server only once it cannot land any more).
            // The bot's notices (cancellations, refusals, validation comments, interim comments of running
            // executions): kept until they are known to be on the review, posted once each.
            try db.execute(
                sql: """
                    ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE redrive_points (
                        execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
                        state_name TEXT NOT NULL,
                        input TEXT NOT NULL,
                        variables TEXT NOT NULL,
                        event_count INTEGER NOT NULL,
                        transitions INTEGER NOT NULL,
                        updated REAL NOT NULL);
                    ALTER TABLE bot_reports ADD COLUMN posting_since REAL;
                    CREATE TABLE bot_notices (
                        key TEXT PRIMARY KEY NOT NULL,
                        server TEXT NOT NULL,
                        target TEXT NOT NULL,
                        message TEXT NOT NULL,
                        findings TEXT,
                        comment_id INTEGER,
                        state TEXT NOT NULL,
                        posting_since REAL,
                        created REAL NOT NULL,
                        updated REAL NOT NULL);
                    CREATE INDEX bot_notices_state ON bot_notices(state, server);
                    """)
        }
        m.registerMigration("leases") { db in
            // Who runs an execution or polls a server right now, until when (see ExecutionStore's leases).
            try db.execute(
                sql: """
                    CREATE TABLE leases (
                        name TEXT PRIMARY KEY NOT NULL,
                        owner TEXT NOT NULL,
                        expires REAL NOT NULL,
                        acquired REAL NOT NULL);
                    """)
        }
        return m
    }
}
