import Foundation
import StatesLanguage
import Store
import StoreTestSupport
import Testing

@Suite struct StoreOpeningTests {
    @Test func migratesAFreshFileAndReopens() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nested/deeper/stepgate.db").path
        do {
            let store = try SQLiteStore(url: "sqlite://\(path)")
            #expect(try await store.appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
            try await store.setCursor(server: "review", project: "demo", cursor: "2024-01-01 00:00:00")
        }
        #expect(FileManager.default.fileExists(atPath: path))
        let again = try SQLiteStore(url: path)
        #expect(try await again.appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
        #expect(try await again.cursor(server: "review", project: "demo")?.cursor == "2024-01-01 00:00:00")
        #expect(try await again.integrityCheck().isEmpty)
        #expect(try rawSQL(path, "PRAGMA journal_mode").trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }

    /// The bot and a CLI command may open a new store at the same moment: both must get it.
    @Test func aFreshFileOpenedFromManyConnectionsAtOnce() async throws {
        for round in 0..<5 {
            let dir = try makeTempDir()
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("fresh-\(round).db").path
            let failures = NSLock()
            nonisolated(unsafe) var errors: [String] = []
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do { _ = try SQLiteStore(url: path) } catch {
                    failures.withLock { errors.append(String(describing: error)) }
                }
            }
            #expect(errors.isEmpty, "\(errors)")
            #expect(try await SQLiteStore(url: path).appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
        }
    }

    @Test func aFileThatIsNotADatabaseIsOneClearError() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("garbage.db").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteStore(url: "sqlite://\(path)")
        } throws: { error in
            guard let e = error as? StoreError else { return false }
            return e.code == .corrupt && e.message.hasPrefix(path) && !e.message.contains("\n")
        }
    }

    @Test func aDirectoryIsNotADatabase() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: StoreError.self) { _ = try SQLiteStore(url: dir.path) }
    }

    @Test func aNewerSchemaIsRefused() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.db").path
        _ = try SQLiteStore(url: path)
        try rawSQL(path, "INSERT INTO grdb_migrations (identifier) VALUES ('v99')")
        #expect {
            _ = try SQLiteStore(url: path)
        } throws: { ($0 as? StoreError)?.code == .tooNew }
    }

    @Test func storeLocations() throws {
        #expect(try StoreLocation(parsing: "sqlite:///var/lib/stepgate/s.db").path == "/var/lib/stepgate/s.db")
        #expect(try StoreLocation(parsing: "/tmp/a b.db").path == "/tmp/a b.db")
        #expect(try StoreLocation(parsing: "sqlite:///tmp/a%20b.db").path == "/tmp/a b.db")
        #expect(try StoreLocation(parsing: "rel/x.db").path == "rel/x.db")
        #expect(throws: StoreError.self) { _ = try StoreLocation(parsing: "postgres://db/stepgate") }  // no user
        #expect(try StoreLocation(parsing: "postgres://bot:s3cret@db:6543/gate?schema=ci").path == "postgres://bot@db:6543/gate?schema=ci")
        #expect(throws: StoreError.self) { _ = try StoreLocation(parsing: "postgres://bot@db/gate?schema=a;drop") }
        #expect(throws: StoreError.self) { _ = try StoreLocation(parsing: "mysql://bot@db/gate") }
        #expect(throws: StoreError.self) { _ = try StoreLocation(parsing: "") }
        #expect(StoreLocation.defaultURL(environment: ["STEPGATE_STORE": "sqlite:///x.db"]) == "sqlite:///x.db")
        #expect(StoreLocation.defaultURL(environment: ["HOME": "/home/u"]) == "sqlite:///home/u/.local/state/stepgate/stepgate.db")
    }
}

/// The store contract, on SQLite and on PostgreSQL alike.
@Suite struct StoreRoundTripTests {

    @Test(arguments: StoreKind.allCases) func executionsHistoryCheckpointsAndTaskResults(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        let trigger = try JSONParser.parse(#"{"trigger":"gerrit","change":{"number":42}}"#)
        try await store.createExecution(
            NewExecution(
                id: "e1", workflow: "deploy", repository: "demo", revision: "abc123", trigger: trigger,
                input: .object(JSONObject([("a", .int(1))])), definition: #"{"StartAt":"X"}"#))
        var e = try #require(try await store.execution(id: "e1"))
        #expect(e.status == .running && e.trigger == trigger && e.repository == "demo" && e.revision == "abc123")
        #expect(e.definitionHash.count == 64)
        #expect(try await store.executions(status: .running).map(\.id) == ["e1"])

        let events = (1...3).map { StoredEvent(seq: $0, type: "PassStateEntered", json: .object(JSONObject([("id", .int($0))]))) }
        let cp = StoredCheckpoint(stateName: "B", input: .string("in"), variables: ["v": .int(3)], eventCount: 3, transitions: 1)
        try await store.recordTransition(executionID: "e1", events: events, checkpoint: cp)
        #expect(try await store.events(executionID: "e1") == events)
        #expect(try await store.checkpoint(executionID: "e1") == cp)

        // A replayed event (same number) replaces the first copy.
        let replay = StoredEvent(seq: 3, type: "PassStateExited", json: .null)
        try await store.recordTransition(executionID: "e1", events: [replay], checkpoint: nil)
        #expect(try await store.events(executionID: "e1").last == replay)

        try await store.recordTaskResult(executionID: "e1", key: "/A#0", outcome: .succeeded(.int(7)))
        try await store.recordTaskResult(executionID: "e1", key: "/A#0", outcome: .succeeded(.int(8)))  // first wins
        try await store.recordTaskResult(executionID: "e1", key: "/B#0", outcome: .failed(error: "X", cause: "why"))
        #expect(try await store.taskResult(executionID: "e1", key: "/A#0") == .succeeded(.int(7)))
        #expect(try await store.taskResult(executionID: "e1", key: "/B#0") == .failed(error: "X", cause: "why"))
        #expect(try await store.taskResult(executionID: "e1", key: "/C#0") == nil)

        try await store.finishExecution(id: "e1", ExecutionEnding(status: .failed, error: "States.TaskFailed", cause: "boom"))
        try await store.finishExecution(id: "e1", ExecutionEnding(status: .succeeded))  // the first ending stays
        e = try #require(try await store.execution(id: "e1"))
        #expect(e.status == .failed && e.error == "States.TaskFailed" && e.cause == "boom" && e.finished != nil)
        #expect(try await store.executions(status: .running).isEmpty)
    }

    @Test(arguments: StoreKind.allCases) func approvalsAndComments(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        try await store.createExecution(NewExecution(id: "e", workflow: "w", input: .null, definition: "{}"))
        let deadline = Date().addingTimeInterval(3600)
        let a = try await store.openApproval(
            executionID: "e", taskKey: "/Gate#0", message: "ship?", approvers: ["alice"], deadline: deadline)
        let again = try await store.openApproval(
            executionID: "e", taskKey: "/Gate#0", message: "other", approvers: [], deadline: deadline.addingTimeInterval(5))
        #expect(a == again && a.status == .pending && a.token.count == 64)
        await #expect(throws: StoreError.self) {
            try await store.decideApproval(executionID: "e", approve: true, by: "mallory")
        }
        let decided = try await store.decideApproval(executionID: a.token, approve: true, by: "alice", comment: "lgtm")
        #expect(decided.map(\.status) == [.approved])
        #expect(try await store.approval(executionID: "e", taskKey: "/Gate#0")?.decidedBy == "alice")
        await #expect(throws: StoreError.self) {
            try await store.decideApproval(executionID: "e", approve: false, by: "alice")
        }

        let c1 = try await store.addComment(executionID: "e", taskKey: "/C#0", message: "one")
        let c1again = try await store.addComment(executionID: "e", taskKey: "/C#0", message: "one")
        let c2 = try await store.addComment(executionID: "e", taskKey: "/D#0", message: "two")
        #expect(c1 == c1again && c2.id != c1.id)
        try await store.markCommentDelivered(id: c1.id)
        #expect(try await store.comments(executionID: "e", undeliveredOnly: true).map(\.message) == ["two"])
    }

    /// Several distinct approvers, each counted once under any of their names; the owner and
    /// people outside the list never count; a rejection by an allowed person decides at once.
    @Test(arguments: StoreKind.allCases) func approvalsNeedingSeveralPeople(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        try await store.createExecution(NewExecution(id: "e", workflow: "w", input: .null, definition: "{}"))
        let deadline = Date().addingTimeInterval(3600)
        _ = try await store.openApproval(
            executionID: "e", taskKey: "/Two#0", message: "ship?", approvers: ["alice", "bob", "carol"], required: 2,
            excluded: ["1000", "alice"], deadline: deadline)
        // The owner, by either of her names, may not decide.
        await #expect(throws: StoreError.self) {
            try await store.decideApproval(executionID: "e", approve: true, by: "alice", identities: ["1000", "alice"])
        }
        await #expect(throws: StoreError.self) {
            try await store.decideApproval(executionID: "e", approve: true, by: "1000", identities: ["1000"])
        }
        var now = try await store.decideApproval(executionID: "e", approve: true, by: "bob", identities: ["1001", "bob"])
        #expect(now.map(\.status) == [.pending] && now.first?.approvedBy == ["bob"])
        now = try await store.decideApproval(executionID: "e", approve: true, by: "bob", identities: ["1001", "bob"])
        #expect(now.map(\.status) == [.pending] && now.first?.approvedBy == ["bob"], "the same person counts once")
        await #expect(throws: StoreError.self) {
            try await store.decideApproval(executionID: "e", approve: true, by: "dave", identities: ["1003", "dave"])
        }
        now = try await store.decideApproval(executionID: "e", approve: true, by: "carol", identities: ["1002", "carol"])
        #expect(now.map(\.status) == [.approved] && now.first?.decidedBy == "bob, carol")

        _ = try await store.openApproval(
            executionID: "e", taskKey: "/Veto#0", message: "ship?", approvers: [], required: 3, deadline: deadline)
        now = try await store.decideApproval(executionID: "e", taskKey: "/Veto#0", approve: false, by: "erin")
        #expect(now.map(\.status) == [.rejected] && now.first?.decidedBy == "erin")
    }

    @Test(arguments: StoreKind.allCases) func cursors(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        #expect(try await store.cursor(server: "review", project: "demo") == nil)
        try await store.setCursor(server: "review", project: "demo", cursor: "t1", updated: Date(timeIntervalSince1970: 10))
        try await store.setCursor(server: "review", project: "other", cursor: "x")
        try await store.setCursor(server: "review", project: "demo", cursor: "t2", updated: Date(timeIntervalSince1970: 20))
        let c = try #require(try await store.cursor(server: "review", project: "demo"))
        #expect(c.cursor == "t2" && c.updated == Date(timeIntervalSince1970: 20))
        #expect(try await store.cursors().map(\.project) == ["demo", "other"])
    }

    @Test(arguments: StoreKind.allCases) func dedupeKeysExactlyOneWinnerUnderConcurrency(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        // Two connections pools, as two bot processes would have.
        let a = made.store
        let b = try openStore(url: made.url)
        let keys = (0..<25).map { "review/demo/change-\($0)/ps-1/deploy" }
        for key in keys {
            async let first = a.claimDedupeKey(key, executionID: "A-\(key)")
            async let second = b.claimDedupeKey(key, executionID: "B-\(key)")
            let results = try await [first, second]
            let winners = results.filter { $0 == .claimed }
            #expect(winners.count == 1, "\(key): \(results)")
            let owner = try #require(try await a.dedupeKey(key))
            #expect(results.contains(.existing(executionID: owner)))
        }
    }
}
