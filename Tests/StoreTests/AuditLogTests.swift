import Foundation
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct AuditLogTests {
    /// A store with five audit entries.
    func seeded() async throws -> (SQLiteStore, String, URL) {
        let dir = try makeTempDir()
        let path = dir.appendingPathComponent("audit.db").path
        let store = try SQLiteStore(url: path)
        for i in 1...5 {
            try await store.audit.append(
                AuditEntry(
                    actor: "stepgate", repository: "demo", revision: "rev\(i)", role: "ci-readonly", action: "task.run",
                    target: "stepgate:command", result: "succeeded"))
        }
        // The triggers refuse UPDATE and DELETE; someone with the file can drop them.
        try rawSQL(path, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        return (store, path, dir)
    }

    @Test func anIntactLogVerifies() async throws {
        let (store, _, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try await store.audit.verify()
        #expect(v.isIntact && v.entries == 5 && v.problems.isEmpty)
        let entries = try await store.audit.entries()
        #expect(entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(entries[0].prevHash == AuditLog.genesisHash && entries[1].prevHash == entries[0].hash)
        #expect(v.headHash == entries[4].hash)
    }

    @Test func theTriggersRefuseEditsThroughSQL() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.db").path
        let store = try SQLiteStore(url: path)
        try await store.audit.append(AuditEntry(actor: "a", action: "x", target: "t", result: "r"))
        #expect(throws: RawSQLError.self) { try rawSQL(path, "UPDATE audit_log SET result = 'x'") }
        #expect(throws: RawSQLError.self) { try rawSQL(path, "DELETE FROM audit_log") }
    }

    @Test func redactionAppliesToEveryField() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("a.db").path)
        try await store.audit.append(
            AuditEntry(actor: "stepgate", action: "task.run", target: "https://x/?token=s3cr3t", result: "failed: s3cr3t"),
            redact: { $0.replacingOccurrences(of: "s3cr3t", with: "***") })
        let e = try #require(try await store.audit.entries().first)
        #expect(e.target == "https://x/?token=***" && e.result == "failed: ***")
        #expect(try await store.audit.verify().isIntact)
    }

    @Test func anEditedEntryIsNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        try rawSQL(path, "UPDATE audit_log SET result = 'failed' WHERE seq = 3")
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [3] && v.problems.map(\.kind) == [.edited], "\(v.problems)")
    }

    @Test func aRemovedEntryIsNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        try rawSQL(path, "DELETE FROM audit_log WHERE seq = 2")
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [2] && v.problems.map(\.kind) == [.removed], "\(v.problems)")
    }

    @Test func aRemovedLastEntryIsNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        try rawSQL(path, "DELETE FROM audit_log WHERE seq = 5")
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [5] && v.problems.map(\.kind) == [.removed], "\(v.problems)")
    }

    @Test func anInsertedEntryIsNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A forger who knows the algorithm links a well-formed sixth entry to the chain.
        let last = try #require(try await store.audit.entries().last)
        var forged = last
        forged.seq = 6
        forged.actor = "mallory"
        forged.prevHash = last.hash
        forged.hash = forged.computedHash()
        try rawSQL(
            path,
            """
            INSERT INTO audit_log (seq, time, actor, repository, revision, role, action, target, result, prev_hash, hash)
            VALUES (6, '\(forged.time)', 'mallory', 'demo', 'rev5', 'ci-readonly', 'task.run', 'stepgate:command', 'succeeded',
                    '\(forged.prevHash)', '\(forged.hash)')
            """)
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [6] && v.problems.map(\.kind) == [.inserted], "\(v.problems)")
    }

    @Test func anEntryInsertedMidChainIsNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Make room at seq 3 (shift 3...5 up by one), then insert a row there.
        try rawSQL(
            path,
            """
            UPDATE audit_log SET seq = -seq WHERE seq >= 3;
            UPDATE audit_log SET seq = 1 - seq WHERE seq < 0;
            INSERT INTO audit_log (seq, time, actor, repository, revision, role, action, target, result, prev_hash, hash)
            SELECT 3, time, 'mallory', repository, revision, role, action, target, result, hash, 'ff' || hash FROM audit_log WHERE seq = 2;
            UPDATE audit_head SET count = 6;
            """)
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [3] && v.problems.map(\.kind) == [.inserted], "\(v.problems)")
    }

    @Test func swappedEntriesAreNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        try rawSQL(
            path,
            "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = -1;"
        )
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [2, 3] && v.problems.allSatisfy { $0.kind == .reordered }, "\(v.problems)")
        #expect(v.problems[0].message.contains("seq 3") && v.problems[1].message.contains("seq 2"))
    }

    @Test func severalProblemsAreAllNamed() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        try rawSQL(path, "UPDATE audit_log SET actor = 'someone' WHERE seq = 1; DELETE FROM audit_log WHERE seq = 4;")
        let v = try await store.audit.verify()
        #expect(v.problems.map(\.seq) == [1, 4] && v.problems.map(\.kind) == [.edited, .removed], "\(v.problems)")
    }

    @Test func appendsFromTwoStoresKeepOneChain() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.db").path
        let a = try SQLiteStore(url: path)
        let b = try SQLiteStore(url: path)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    _ = try? await (i % 2 == 0 ? a : b).audit.append(AuditEntry(actor: "p\(i)", action: "x", target: "t", result: "r"))
                }
            }
        }
        let v = try await a.audit.verify()
        #expect(v.isIntact && v.entries == 20, "\(v.problems)")
    }

    // MARK: A head kept outside the database

    @Test func anExpectedHeadCatchesATruncatedTail() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        let entries = try await store.audit.entries()
        let recorded = try await store.audit.verify().headHash
        #expect(try await store.audit.verify(expectedHead: recorded).isIntact)
        // Cut the last two entries and make the head row agree.
        try rawSQL(path, "DELETE FROM audit_log WHERE seq > 3; UPDATE audit_head SET count = 3, hash = '\(entries[2].hash)'")
        #expect(try await store.audit.verify().isIntact, "the database alone cannot tell")
        let v = try await store.audit.verify(expectedHead: recorded)
        #expect(!v.isIntact)
        #expect(v.problems.map(\.kind) == [.headMismatch], "\(v.problems)")
        #expect(v.problems.first?.message.contains("no entry has the expected head \(recorded)") == true)
        // An older head still in the log is fine.
        #expect(try await store.audit.verify(expectedHead: entries[1].hash).isIntact)
    }

    @Test func anExpectedHeadCatchesARewrittenChain() async throws {
        let (store, path, dir) = try await seeded()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorded = try await store.audit.verify().headHash
        // Rewrite the last entry, with a hash that verifies, and the head row to match.
        var last = try #require(try await store.audit.entries().last)
        last.result = "approved"
        last.hash = last.computedHash()
        try rawSQL(
            path,
            "UPDATE audit_log SET result = 'approved', hash = '\(last.hash)' WHERE seq = 5; UPDATE audit_head SET hash = '\(last.hash)'")
        #expect(try await store.audit.verify().isIntact, "the database alone cannot tell")
        #expect(!(try await store.audit.verify(expectedHead: recorded).isIntact))
    }

    @Test func everyWriteAppendsTheNewHeadToTheHeadFile() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let head = dir.appendingPathComponent("audit-head").path
        let store = try SQLiteStore(url: "sqlite://\(dir.path)/a.db?audit-head=\(head)")
        #expect(store.auditHeadFile == head)
        for i in 1...3 {
            try await store.audit.append(AuditEntry(actor: "stepgate", action: "task.run", target: "t\(i)", result: "succeeded"))
        }
        let lines = try String(contentsOfFile: head, encoding: .utf8).split(separator: "\n")
        let entries = try await store.audit.entries()
        #expect(lines.count == 3)
        for (line, entry) in zip(lines, entries) {
            #expect(line.hasSuffix(" seq=\(entry.seq) head=\(entry.hash)"), "\(line)")
        }
        var info = stat()
        #expect(stat(head, &info) == 0 && info.st_mode & 0o777 == 0o600)
        // A second store on the same file writes to it too.
        let other = try SQLiteStore(url: "sqlite://\(dir.path)/a.db?audit-head=\(head)")
        try await other.audit.append(AuditEntry(actor: "stepgate", action: "task.run", target: "t4", result: "succeeded"))
        #expect(try String(contentsOfFile: head, encoding: .utf8).split(separator: "\n").count == 4)
        #expect(throws: StoreError.self) { try SQLiteStore(url: "sqlite://\(dir.path)/a.db?audit-head=relative") }
        #expect(throws: StoreError.self) { try SQLiteStore(url: "sqlite://\(dir.path)/a.db?mode=ro") }
    }
}
