import Foundation
import Runtime
import StatesLanguage
import Store
import Testing

/// Tasks of executions that are not durable (push gates) are audited too.
@Suite struct AuditingTests {
    @Test func everyTaskRunIsAudited() async throws {
        let dir = try makeTemporaryDirectory("auditing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(url: "sqlite://\(dir)/s.db")
        let secret = "audited-secret-8d1f"
        let inner = InMemoryTaskExecutor([
            fnOK: { _ in ["ok": true] },
            fnFail: { _ in throw ExecutionError("Gate.Refused", "refused \(secret)") },
        ])
        let tasks = AuditingTaskExecutor(
            inner: inner, audit: store.audit, actor: "carol", repository: "demo", revision: "abc123",
            redactor: Redactor(secrets: [secret]))
        let ok = try await runTask(tasks, resource: fnOK, parameters: [:], credentials: ["RoleArn": "gate"])
        #expect(ok.status == .succeeded)
        let failed = try await runTask(tasks, resource: fnFail, parameters: [:])
        #expect(failed.error == "Gate.Refused")
        let entries = try await store.audit.entries()
        #expect(entries.map(\.result) == ["succeeded", "failed: Gate.Refused"])
        #expect(entries.map(\.role) == ["gate", ""])
        #expect(entries.allSatisfy { $0.actor == "carol" && $0.repository == "demo" && $0.revision == "abc123" && $0.action == "task.run" })
        #expect(entries[0].target == "\(fnOK) (state T, execution exec-1)")
        #expect(try await store.audit.verify().isIntact)
    }

    @Test func aTaskWhoseEntryCannotBeWrittenFails() async throws {
        let dir = try makeTemporaryDirectory("auditing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(url: "sqlite://\(dir)/s.db")
        // The store's audit table is gone: the entry cannot be written.
        try runProgram("/usr/bin/sqlite3", ["\(dir)/s.db", "DROP TABLE audit_log"])
        let tasks = AuditingTaskExecutor(
            inner: InMemoryTaskExecutor([fnOK: { _ in ["ok": true] }]), audit: store.audit, repository: "demo", revision: "abc",
            redactor: Redactor(secrets: []))
        let r = try await runTask(tasks, resource: fnOK, parameters: [:])
        #expect(r.error == "States.Runtime")
        #expect(r.cause?.contains("the audit log cannot be written:") == true, "\(r.cause ?? "")")
    }
}
