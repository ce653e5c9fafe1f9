import Foundation
import StatesLanguage
import Store
import StoreTestSupport
import Testing

/// What several processes sharing one store rely on, on SQLite and PostgreSQL alike: leases, the audit chain
/// under concurrent writers, the same schema versions.
@Suite struct SharedStoreTests {
    @Test(arguments: StoreKind.allCases) func leasesAreHeldRenewedReleasedAndExpire(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        #expect(try await store.acquireLease("execution:e1", owner: "a", ttl: 30) == .acquired)
        #expect(try await store.acquireLease("execution:e1", owner: "a", ttl: 30) == .renewed)
        guard case .held(let by, let until) = try await store.acquireLease("execution:e1", owner: "b", ttl: 30) else {
            Issue.record("b took a lease a holds")
            return
        }
        #expect(by == "a" && until > Date())
        #expect(try await store.renewLease("execution:e1", owner: "a", ttl: 30))
        #expect(try await !store.renewLease("execution:e1", owner: "b", ttl: 30))
        try await store.releaseLease("execution:e1", owner: "b")  // not b's: nothing happens
        #expect(try await store.lease("execution:e1")?.owner == "a")
        try await store.releaseLease("execution:e1", owner: "a")
        #expect(try await store.acquireLease("execution:e1", owner: "b", ttl: 0.3) == .acquired)
        // b stops renewing (it died): once the lease expired, a takes it, and b's renewal finds it gone.
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await store.acquireLease("execution:e1", owner: "a", ttl: 30) == .acquired)
        #expect(try await !store.renewLease("execution:e1", owner: "b", ttl: 30))
        #expect(try await store.lease("execution:e1")?.owner == "a")
    }

    @Test(arguments: StoreKind.allCases) func oneLeaseHasOneHolderUnderConcurrency(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let stores = [made.store, try openStore(url: made.url), try openStore(url: made.url)]
        for round in 0..<10 {
            let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
                for (i, store) in stores.enumerated() {
                    for j in 0..<3 {
                        group.addTask { try await store.acquireLease("poll:r\(round)", owner: "p\(i)-\(j)", ttl: 30).isHeld }
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(claims == 1, "round \(round): \(claims) holders")
        }
    }

    @Test(arguments: StoreKind.allCases) func auditChainStaysLinearWithConcurrentWriters(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let stores = [made.store, try openStore(url: made.url)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<30 {
                let store = stores[i % 2]
                group.addTask {
                    if i % 3 == 0 {
                        try await store.createExecution(NewExecution(id: "e\(i)", workflow: "w", input: .null, definition: "{}"))
                        try await store.recordTaskResult(
                            executionID: "e\(i)", key: "/T#0", outcome: .succeeded(.int(i)),
                            audit: AuditEntry(actor: "stepgate", action: "task.run", target: "t\(i)", result: "succeeded"))
                    } else {
                        _ = try await store.audit.append(AuditEntry(actor: "p\(i)", action: "x", target: "t\(i)", result: "r"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let verification = try await made.store.audit.verify()
        #expect(verification.isIntact, "\(verification.problems)")
        #expect(verification.entries == 30)
        #expect(try await made.store.audit.entries().map(\.seq) == Array(1...30))
    }

    @Test(arguments: StoreKind.allCases) func bothStoresKnowTheSameSchemaVersions(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        #expect(try await made.store.appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
        // Opening again (another process) migrates nothing and sees the same.
        #expect(try await openStore(url: made.url).appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
    }
}

@Suite struct PostgresStoreTests {
    @Test func theAuditLogIsAppendOnlyInTheDatabaseItself() async throws {
        let made = try await TestStores.make(.postgres)
        _ = try await made.store.audit.append(AuditEntry(actor: "a", action: "x", target: "t", result: "r"))
        let psql = try runPSQL(made.url, "UPDATE audit_log SET actor = 'mallory'")
        #expect(psql.status != 0 && psql.error.contains("append-only"), "\(psql)")
        let delete = try runPSQL(made.url, "DELETE FROM audit_log")
        #expect(delete.status != 0 && delete.error.contains("append-only"), "\(delete)")
        #expect(try await made.store.audit.verify().isIntact)
    }

    @Test func aWrongPasswordIsOneLineWithoutThePassword() async throws {
        let url = try TestStores.postgresURL()
        var components = try #require(URLComponents(string: url))
        components.password = "not-the-password-42"
        let store = try openStore(url: components.string!)
        do {
            _ = try await store.appliedMigrations()
            Issue.record("a wrong password opened the store")
        } catch {
            #expect(!error.message.contains("not-the-password-42") && !error.message.contains("\n"), "\(error.message)")
            #expect(error.message.hasPrefix("postgres://"), "\(error.message)")
        }
    }

    @Test func anUnreachableServerIsOneLineNamingIt() async throws {
        let store = try openStore(url: "postgres://bot:hunter2@127.0.0.1:1/stepgate")
        do {
            _ = try await store.execution(id: "x")
            Issue.record("an unreachable server answered")
        } catch {
            #expect(error.code == .cannotOpen, "\(error)")
            #expect(error.message.contains("postgres://bot@127.0.0.1:1/stepgate") && !error.message.contains("hunter2"), "\(error.message)")
        }
    }

    @Test func badURLsAreOneLineWithoutThePassword() {
        for text in [
            "postgres://bot:hunter2@db/gate?schema=a;drop", "postgres://bot:hunter2@db/gate?sslmode=verify-full",
            "postgres://bot:hunter2@db/gate?pool=0", "postgres://bot:hunter2@db/gate?colour=blue", "postgres://:hunter2@db/gate",
        ] {
            do {
                _ = try StoreLocation(parsing: text)
                Issue.record("\(text) parsed")
            } catch {
                #expect(!error.message.contains("hunter2") && error.code == .badLocation, "\(error.message)")
            }
        }
    }

    /// Runs SQL through psql (outside the store, as an attacker or a careless admin would).
    func runPSQL(_ url: String, _ sql: String) throws -> (status: Int32, error: String) {
        let settings = try PostgresSettings(parsing: url)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "psql", "-h", settings.host, "-p", String(settings.port), "-U", settings.user, "-d", settings.database,
            "-v", "ON_ERROR_STOP=1", "-c", "SET search_path TO \(settings.schema ?? "public"); \(sql)",
        ]
        p.environment = ["PGPASSWORD": settings.password ?? "", "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
