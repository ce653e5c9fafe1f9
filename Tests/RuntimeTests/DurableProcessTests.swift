import Foundation
import Runtime
import StatesLanguage
import Store
import Testing

/// The real binary, real processes, real SIGKILL.
@Suite struct DurableProcessTests {
    @Test func sigkillDuringAWaitLosesNothing() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("state/stepgate.db").path
        let definition = dir.appendingPathComponent("wf.asl.json")
        try """
        {"StartAt": "Start", "States": {
          "Start": {"Type": "Pass", "Result": {"ok": true}, "Next": "One"},
          "One": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "one"}, "ResultPath": "$.one", "Next": "Pause"},
          "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Two"},
          "Two": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "two"}, "ResultPath": "$.two", "Next": "Done"},
          "Done": {"Type": "Succeed"}}}
        """.write(to: definition, atomically: true, encoding: .utf8)

        let child = try Child(["executions", "start", "--definition", definition.path, "--store", "sqlite://\(db)"])
        // Wait for the file, then for the first comment and the checkpoint at the Wait state.
        #expect(try await eventually { FileManager.default.fileExists(atPath: db) })
        let store = try SQLiteStore(url: db)
        let reached = try await eventually {
            guard let e = try await store.executions().first else { return false }
            let comments = try await store.comments(executionID: e.id)
            let cp = try await store.checkpoint(executionID: e.id)
            return comments.map(\.message) == ["one"] && cp?.stateName == "Pause"
        }
        #expect(reached, "stderr: \(child.stderr)")
        child.kill9()
        _ = try await child.wait(5)
        #expect(child.process.terminationReason == .uncaughtSignal)
        let id = try #require(try await store.executions().first?.id)
        #expect(try await store.execution(id: id)?.status == .running)

        let (status, out, err) = try await Child.run(["executions", "resume", "--store", "sqlite://\(db)"])
        #expect(status == 0, "stdout: \(out) stderr: \(err)")
        #expect(out.contains("\(id): SUCCEEDED"))
        let record = try #require(try await store.execution(id: id))
        #expect(record.status == .succeeded)
        #expect(record.output?["one"]?["id"] != nil && record.output?["two"]?["id"] != nil)
        let comments = try await store.comments(executionID: id)
        #expect(comments.map(\.message) == ["one", "two"])
        let events = try await store.events(executionID: id)
        #expect(events.map(\.seq) == Array(1...events.count))
        #expect(events.filter { $0.type == "TaskSucceeded" }.count == 2)
        #expect(events.last?.type == "ExecutionSucceeded")

        let (verifyStatus, verifyOut, _) = try await Child.run(["audit", "verify", "--store", db])
        #expect(verifyStatus == 0 && verifyOut.hasPrefix("audit log intact: 2 entries"), "\(verifyOut)")
        let (showStatus, showOut, _) = try await Child.run(["executions", "show", id, "--store", db])
        #expect(showStatus == 0 && showOut.hasPrefix("execution \(id): SUCCEEDED"))
    }

    func approvalWorkflow(_ dir: URL) throws -> String {
        """
        {"StartAt": "Gate", "States": {
          "Gate": {"Type": "Task", "Resource": "stepgate:approval",
                   "Parameters": {"message": "deploy to staging?", "approvers": ["alice", "bob"]},
                   "TimeoutSeconds": 60, "End": true}}}
        """
    }

    /// Runs the approval workflow in this process and decides it with the CLI from another.
    func decide(_ verb: String, by: String) async throws -> (ExecutionResult, SQLiteStore, URL) {
        let dir = try makeTempDir()
        let db = dir.appendingPathComponent("s.db").path
        let store = try SQLiteStore(url: db)
        let text = try approvalWorkflow(dir)
        let machine = try compileUnchecked(text)
        let run = Task {
            try await DurableExecutions(store: store, approvalPollInterval: 0.05).start(
                id: "appr", definitionText: text, machine: machine, workflow: "w", input: .null, tasks: NoTaskExecutor(),
                clock: SystemClock())
        }
        #expect(try await eventually { try await !store.approvals(executionID: "appr", status: .pending).isEmpty })
        let (denied, _, deniedErr) = try await Child.run(["executions", verb, "appr", "--by", "mallory", "--store", db])
        #expect(denied == 2 && deniedErr.contains("mallory may not decide"), "\(deniedErr)")
        let (status, out, err) = try await Child.run(
            ["executions", verb, "appr", "--by", by, "--comment", "looks fine", "--store", db])
        #expect(status == 0, "stdout: \(out) stderr: \(err)")
        return (try await run.value, store, dir)
    }

    @Test func approveFromAnotherProcess() async throws {
        let (result, store, dir) = try await decide("approve", by: "alice")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(result.status == .succeeded, "\(result.json)")
        #expect(result.output == .object(JSONObject([("approved", .bool(true)), ("by", .string("alice")), ("approvedBy", .array(["alice"])), ("comment", .string("looks fine"))])))
        let audit = try await store.audit.entries()
        #expect(audit.map(\.action) == ["approval.approve", "task.run"] && audit[0].actor == "alice")
    }

    @Test func rejectFromAnotherProcess() async throws {
        let (result, store, dir) = try await decide("reject", by: "bob")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(result.status == .failed && result.error == "stepgate.ApprovalRejected")
        #expect(result.cause == "rejected by bob: looks fine")
        #expect(try await store.approvals(executionID: "appr").map(\.status) == [.rejected])
    }

    /// Killed while waiting for a human: the resumed execution finds the same approval (same
    /// token and deadline), and a decision made while nothing ran is honoured.
    @Test func anApprovalSurvivesSigkill() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("s.db").path
        let definition = dir.appendingPathComponent("gate.asl.json")
        try approvalWorkflow(dir).write(to: definition, atomically: true, encoding: .utf8)
        let child = try Child(["executions", "start", "--definition", definition.path, "--store", db])
        #expect(try await eventually { FileManager.default.fileExists(atPath: db) })
        let store = try SQLiteStore(url: db)
        #expect(try await eventually { try await !store.approvals(status: .pending).isEmpty }, "\(child.stderr)")
        let before = try #require(try await store.approvals().first)
        child.kill9()
        _ = try await child.wait(5)

        let (approved, _, approveErr) = try await Child.run(["executions", "approve", before.executionID, "--by", "bob", "--store", db])
        #expect(approved == 0, "\(approveErr)")
        let (status, out, err) = try await Child.run(["executions", "resume", "--store", db, "--format", "json"])
        #expect(status == 0, "stdout: \(out) stderr: \(err)")
        let after = try await store.approvals()
        #expect(after.count == 1 && after[0].token == before.token && after[0].deadline == before.deadline)
        #expect(try await store.execution(id: before.executionID)?.status == .succeeded)
        #expect(try JSONParser.parse(out).arrayValue?.first?["output"]?["by"] == .string("bob"))
    }

    /// Eight processes open one new store at the same moment, several times over: every one
    /// succeeds and the file ends with one schema (the migrations run once). The processes wait
    /// behind a FIFO and are released together, so their first opens really overlap.
    @Test func eightProcessesOpenOneNewStore() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = try stepgateBinary().path
        for round in 0..<12 {
            let db = dir.appendingPathComponent("round\(round)/s.db").path
            let gate = dir.appendingPathComponent("gate\(round)").path
            #expect(mkfifo(gate, 0o600) == 0)
            let children = try (0..<8).map { _ in
                try Child(
                    executable: "/bin/sh",
                    ["-c", "read _ < \"$0\"; exec \"$1\" executions list --store \"$2\" --format json", gate, binary, db])
            }
            try await Task.sleep(nanoseconds: 300_000_000)  // all eight block opening the FIFO
            let writer = open(gate, O_WRONLY)
            #expect(writer >= 0)
            _ = write(writer, "go\n", 3)
            close(writer)
            for child in children {
                let status = try await child.wait(60)
                #expect(status == 0, "round \(round): \(child.stderr)")
                #expect(child.stdout == "[]\n", "round \(round): \(child.stdout)")
            }
            let store = try SQLiteStore(url: db)
            #expect(try await store.appliedMigrations() == ["v1", "v2", "v3", "v4", "leases"])
            #expect(try await store.integrityCheck().isEmpty)
        }
    }
}
