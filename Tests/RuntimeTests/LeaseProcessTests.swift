import Foundation
import Runtime
import StatesLanguage
import Store
import StoreTestSupport
import Testing

/// `stepgate executions resume` next to a process running the same execution, on SQLite and PostgreSQL: the
/// execution's lease keeps the second process out until the first is gone.
@Suite struct LeaseProcessTests {
    static let definition = """
        {"StartAt": "One", "States": {
          "One": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "one"}, "ResultPath": "$.one", "Next": "Pause"},
          "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Two"},
          "Two": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "two"}, "ResultPath": "$.two", "End": true}}}
        """

    /// Starts the workflow in a child process and waits until it sits in its Wait state.
    func startWaiting(_ made: TestStore, _ dir: URL) async throws -> (Child, String) {
        let file = dir.appendingPathComponent("wf.asl.json")
        try Self.definition.write(to: file, atomically: true, encoding: .utf8)
        let child = try Child(["executions", "start", "--definition", file.path, "--store", made.url])
        var id: String?
        let reached = try await eventually {
            guard let e = try await made.store.executions(status: .running).first else { return false }
            id = e.id
            return try await made.store.checkpoint(executionID: e.id)?.stateName == "Pause"
        }
        #expect(reached, "stderr: \(child.stderr)")
        return (child, try #require(id))
    }

    @Test(arguments: StoreKind.allCases) func resumeLeavesARunningExecutionToItsProcess(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (child, id) = try await startWaiting(made, made.directoryURL)
        let (status, _, err) = try await Child.run(["executions", "resume", id, "--store", made.url])
        #expect(status != 0 && err.contains("is being run by") && err.split(separator: "\n").count == 1, "\(err)")
        let (allStatus, allOut, allErr) = try await Child.run(["executions", "resume", "--store", made.url])
        #expect(allStatus == 0 && !allOut.contains(id), "stdout: \(allOut) stderr: \(allErr)")
        #expect(try await child.wait(30) == 0, "\(child.stderr)")
        let record = try #require(try await made.store.execution(id: id))
        #expect(record.status == .succeeded)
        #expect(try await made.store.comments(executionID: id).map(\.message) == ["one", "two"])
        #expect(try await made.store.lease(LeaseSettings.execution(id)) == nil, "the lease was given back")
    }

    @Test(arguments: StoreKind.allCases) func aDeadHoldersLeaseIsTakenOverOnceItExpires(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (child, id) = try await startWaiting(made, made.directoryURL)
        child.kill9()
        _ = try await child.wait(5)
        // A process on another machine holds it now, and dies there: its lease runs out after two seconds.
        let name = LeaseSettings.execution(id)
        _ = try await made.store.releaseLease(name, owner: try #require(try await made.store.lease(name)?.owner))
        #expect(try await made.store.acquireLease(name, owner: "replica-b.example.org:4242:0a1b2c3d", ttl: 2) == .acquired)
        var (status, out, err) = try await Child.run(["executions", "resume", id, "--store", made.url])
        #expect(status != 0 && err.contains("replica-b.example.org:4242:0a1b2c3d"), "\(err)")
        try await Task.sleep(for: .milliseconds(2200))
        (status, out, err) = try await Child.run(["executions", "resume", "--store", made.url])
        #expect(status == 0 && out.contains("\(id): SUCCEEDED"), "stdout: \(out) stderr: \(err)")
        #expect(try await made.store.comments(executionID: id).map(\.message) == ["one", "two"], "the first task ran once")
        let runs = try await made.store.audit.entries().filter { $0.action == "task.run" }
        #expect(runs.count == 2)
    }
}
