public import Foundation
internal import PostgresNIO
internal import Logging
import StatesLanguage

/// The shared store: one PostgreSQL database (or one schema of it) used by several bot replicas, hook hosts
/// and command-line processes at once, through the same ``ExecutionStore`` contract as ``SQLiteStore``.
///
/// Every method is one transaction on a pooled connection. Work that must be done once is claimed in the
/// database: dedupe keys and report rows by unique keys, leases with `FOR UPDATE SKIP LOCKED` and an expiry
/// on the server's clock, audit entries under a transaction-scoped advisory lock that keeps the chain
/// linear. Migrations run under an advisory lock too, so replicas starting together create the schema once.
public final class PostgresStore: ExecutionStore {
    public let settings: PostgresSettings
    let pool: PostgresPool

    /// The schema versions this build knows, oldest first (the names match the SQLite store's).
    public static let migrations: [(name: String, statements: [String])] = PostgresSchema.migrations

    public var path: String { settings.description }

    public var privateFiles: [String] { settings.passwordFile.map { [$0] } ?? [] }

    /// Opens the store at `url` (see ``PostgresSettings``). Connecting and migrating happen on first use;
    /// ``prepare()`` does both at once and reports a server that cannot be reached.
    public convenience init(url: String) throws(StoreError) {
        try self.init(settings: PostgresSettings(parsing: url))
    }

    public init(settings: PostgresSettings) throws(StoreError) {
        self.settings = settings
        pool = PostgresPool(settings: settings)
    }

    /// Connects and brings the schema up to date (done once per process; every call site may call it).
    public func prepare() async throws(StoreError) {
        try await pool.prepared(self)
    }

    // MARK: - Plumbing

    static let logger = Logger(label: "stepgate.store.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` in one transaction on a pooled connection.
    func transaction<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws(StoreError) -> T
    {
        try await prepare()
        return try await pool.withConnection(what: what, store: self) { connection in
            try await connection.withTransaction(logger: Self.logger) { c in try await body(c) }
        }
    }

    /// One error line naming the store and what was being done; the server's own message, never the password.
    func map(_ error: any Error, doing what: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? PostgresTransactionError {
            return map(e.closureError ?? e.commitError ?? e.beginError ?? e.rollbackError ?? error, doing: what)
        }
        if error is CancellationError { return StoreError(.database, "\(path): \(what): cancelled") }
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] {
                let state = e.serverInfo?[.sqlState] ?? ""
                let code: StoreError.Code
                switch state {
                case "23505", "23503", "23514", "P0001": code = .conflict
                case "40001", "40P01", "55P03": code = .busy
                case "28P01", "28000", "3D000", "42501": code = .cannotOpen
                default: code = .database
                }
                return StoreError(code, "\(path): \(what): \(message)")
            }
            switch e.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .sslUnsupported:
                return StoreError(.cannotOpen, "\(path): \(what): cannot reach the server (\(e.code))")
            case .authMechanismRequiresPassword:
                return StoreError(.cannotOpen, "\(path): \(what): the server wants a password (password-file= or $PGPASSWORD)")
            default:
                return StoreError(.database, "\(path): \(what): \(e.code)")
            }
        }
        return StoreError(.database, "\(path): \(what): \(String(describing: type(of: error)))")
    }

    /// Brings the schema up to date under an advisory lock.
    func migrate(_ connection: PostgresConnection) async throws {
        try await connection.withTransaction(logger: Self.logger) { c in
            try await c.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: Self.logger)
            if let schema = settings.schema {
                try await c.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: Self.logger)
            }
            try await c.query(
                "CREATE TABLE IF NOT EXISTS stepgate_migrations (name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)",
                logger: Self.logger)
            var applied = Set<String>()
            for try await name in try await c.query("SELECT name FROM stepgate_migrations", logger: Self.logger).decode(String.self) {
                applied.insert(name)
            }
            let known = Set(Self.migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw StoreError(.tooNew, "\(path): the store was written by a newer stepgate (unknown schema version \(unknown))")
            }
            for migration in Self.migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await c.query(PostgresQuery(unsafeSQL: statement), logger: Self.logger)
                }
                try await c.query(
                    "INSERT INTO stepgate_migrations (name, applied) VALUES (\(migration.name), \(Date().timeIntervalSince1970))",
                    logger: Self.logger)
            }
        }
    }

    public func appliedMigrations() async throws(StoreError) -> [String] {
        let names = try await transaction("read the schema version") { c in
            try await c.query("SELECT name FROM stepgate_migrations", logger: Self.logger).collect().map { row in
                try row.decode(String.self)
            }
        }
        let order = Self.migrations.map(\.name)
        return names.sorted { (order.firstIndex(of: $0) ?? .max) < (order.firstIndex(of: $1) ?? .max) }
    }
}

/// The connections of one ``PostgresStore``: opened on demand up to the settings' pool size, reused, dropped
/// when broken. The first connection migrates the schema.
actor PostgresPool {
    let settings: PostgresSettings
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextID = 0
    private var migrated = false
    private var migrating: Task<Void, any Error>?

    init(settings: PostgresSettings) {
        self.settings = settings
    }

    deinit {
        // Each connection stays alive until its close has completed.
        for c in idle { c.close().whenComplete { _ in _ = c } }
    }

    var configuration: PostgresConnection.Configuration {
        var c = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password,
            database: settings.database, tls: .disable)
        c.options.connectTimeout = .seconds(10)
        if let schema = settings.schema {
            c.options.additionalStartupParameters = [("search_path", "\"\(schema)\"")]
        }
        return c
    }

    /// Migrates once; concurrent first callers wait for the same migration.
    func prepared(_ store: PostgresStore) async throws(StoreError) {
        if migrated { return }
        let task: Task<Void, any Error>
        if let migrating {
            task = migrating
        } else {
            task = Task {
                try await self.withConnectionUnprepared { c in try await store.migrate(c) }
            }
            migrating = task
        }
        do {
            try await task.value
            migrated = true
        } catch {
            migrating = nil
            throw store.map(error, doing: "cannot prepare the store")
        }
    }

    func withConnection<T: Sendable>(
        what: String, store: PostgresStore, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        do { return try await withConnectionUnprepared(body) } catch { throw store.map(error, doing: what) }
    }

    private func withConnectionUnprepared<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let connection = try await take()
        do {
            let value = try await body(connection)
            give(connection)
            return value
        } catch {
            give(connection)
            throw error
        }
    }

    private func take() async throws -> PostgresConnection {
        while true {
            while let c = idle.popLast() {
                if !c.isClosed { return c }
                open -= 1
            }
            if open < settings.poolSize {
                open += 1
                nextID += 1
                do {
                    return try await PostgresConnection.connect(
                        configuration: configuration, id: nextID, logger: PostgresStore.logger)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func give(_ connection: PostgresConnection) {
        if connection.isClosed { open -= 1 } else { idle.append(connection) }
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

/// Reading a row's columns by name, as the SQLite rows are read.
struct PostgresColumns: StoreRow {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func text(_ name: String) throws -> String? { try row[name].decode(String?.self) }
    func int(_ name: String) throws -> Int? { try row[name].decode(Int?.self) }
    func double(_ name: String) throws -> Double? { try row[name].decode(Double?.self) }
}

extension PostgresConnection {
    /// Runs `query` and returns every row.
    func rows(_ query: PostgresQuery) async throws -> [PostgresColumns] {
        try await self.query(query, logger: PostgresStore.logger).collect().map(PostgresColumns.init)
    }

    /// Runs `query` and returns its first row, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresColumns? {
        try await rows(query).first
    }

    /// Runs a statement.
    func run(_ query: PostgresQuery) async throws {
        try await self.query(query, logger: PostgresStore.logger)
    }
}
