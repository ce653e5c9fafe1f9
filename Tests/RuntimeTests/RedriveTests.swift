import Foundation
import Runtime
import StatesLanguage
import Store
import StoreTestSupport
import Testing

/// Redrive (AWS's RedriveExecution) and stopping a run from outside, through the front door with real commands, on
/// SQLite and PostgreSQL alike.
@Suite struct RedriveTests {
    /// Prepare, then a Parallel state whose branch A succeeds and branch B fails (after A ended) until `flag` exists.
    static let definition = """
        {"StartAt": "Prepare", "States": {
          "Prepare": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["sh", "-c", "echo x >> prepare.runs"]},
                      "ResultPath": null, "Next": "Fan"},
          "Fan": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "stepgate:command",
               "Parameters": {"command": ["sh", "-c", "echo x >> a.runs; printf '{\\"a\\": 1}'"]}, "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "stepgate:command",
               "Parameters": {"command": ["sh", "-c", "sleep 0.5; echo x >> b.runs; test -f flag && printf '{\\"b\\": 2}'"]}, "End": true}}}]}}}
        """

    static func request(_ dir: URL) -> RunRequest {
        RunRequest(
            kind: .manual, repository: nil, trusted: .none(), definition: .file(path: "fan.asl.json", text: definition),
            checkout: .directory(dir.path), event: .object(JSONObject()), input: .object(JSONObject()), repositoryName: "local")
    }

    static func lines(_ dir: URL, _ name: String) -> Int {
        ((try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test(arguments: StoreKind.allCases) func aFailedExecutionIsRedrivenFromItsFailedStateRunningOnlyWhatFailed(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (dir, store) = (made.directoryURL, made.store)
        let runs = WorkflowRuns(store: store, settings: WorkflowRuns.Settings(temporaryDirectory: dir.path))
        let request = Self.request(dir)
        let first = try await runs.start(request)
        #expect(first.result.status == .failed)
        // Still failing: B runs again, A and Prepare do not.
        let second = try await runs.redrive(id: request.id, actor: "ops")
        #expect(second.result.status == .failed)
        #expect((Self.lines(dir, "prepare.runs"), Self.lines(dir, "a.runs"), Self.lines(dir, "b.runs")) == (1, 1, 2))
        FileManager.default.createFile(atPath: dir.appendingPathComponent("flag").path, contents: nil)
        let third = try await runs.redrive(id: request.id, actor: "ops")
        #expect(third.result.status == .succeeded, "\(third.result)")
        #expect((Self.lines(dir, "prepare.runs"), Self.lines(dir, "a.runs"), Self.lines(dir, "b.runs")) == (1, 1, 3))
        #expect(third.result.output == .array([.object(JSONObject([("a", 1)])), .object(JSONObject([("b", 2)]))]))
        let record = try #require(try await store.execution(id: request.id))
        #expect(record.status == .succeeded && record.redriveCount == 2 && record.error == nil)
        let events = try await store.events(executionID: request.id)
        let redriven = events.filter { $0.type == "ExecutionRedriven" }
        #expect(redriven.map { $0.json["executionRedrivenEventDetails"]?["redriveCount"]?.intValue } == [1, 2])
        #expect(events.map(\.seq) == Array(1...events.count), "the history goes on after the failure, nothing overwritten")
        #expect(events.filter { $0.type == "ExecutionFailed" }.count == 2)
        for index in events.indices where events[index].type == "ExecutionRedriven" {
            let entered = events[index...].first { $0.type.hasSuffix("StateEntered") }
            #expect(entered?.json["stateEnteredEventDetails"]?["name"]?.stringValue == "Fan", "redriven from the failed state")
        }
        #expect(try await store.audit.entries().filter { $0.action == "execution.redrive" && $0.actor == "ops" }.count == 2)
        // Only ended, unsuccessful executions can be redriven.
        await #expect(throws: NotRedrivable.self) { try await runs.redrive(id: request.id, actor: "ops") }
    }

    /// A redrive takes the execution's lease before it changes anything: while another process holds it (the bot
    /// still reporting the failure, say), the redrive is refused and the execution stays as it was.
    @Test(arguments: StoreKind.allCases) func aRedriveWaitsForNoOneElseToHoldTheExecution(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (dir, store) = (made.directoryURL, made.store)
        let runs = WorkflowRuns(store: store, settings: WorkflowRuns.Settings(temporaryDirectory: dir.path))
        let request = Self.request(dir)
        #expect(try await runs.start(request).result.status == .failed)
        let lease = LeaseSettings.execution(request.id)
        #expect(try await store.acquireLease(lease, owner: "elsewhere:4242:bot", ttl: 60) == .acquired)
        await #expect(throws: StoreError.self) { try await runs.redrive(id: request.id, actor: "ops") }
        let record = try #require(try await store.execution(id: request.id))
        #expect(record.status == .failed && record.redriveCount == 0, "\(record.status) \(record.redriveCount)")
        try await store.releaseLease(lease, owner: "elsewhere:4242:bot")
        #expect(try await runs.redrive(id: request.id, actor: "ops").result.status == .failed)
        #expect(try await store.execution(id: request.id)?.redriveCount == 1)
    }

    /// An execution that fails in its first state is redriven from the start, with its input.
    @Test(arguments: StoreKind.allCases) func anExecutionThatFailedInItsFirstStateIsRedrivenFromTheStart(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (dir, store) = (made.directoryURL, made.store)
        let runs = WorkflowRuns(store: store, settings: WorkflowRuns.Settings(temporaryDirectory: dir.path))
        var request = Self.request(dir)
        request.definition = .file(
            path: "one.asl.json",
            text: #"{"StartAt": "Only", "States": {"Only": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["test", "-f", "flag"]}, "End": true}}}"#)
        #expect(try await runs.start(request).result.status == .failed)
        FileManager.default.createFile(atPath: dir.appendingPathComponent("flag").path, contents: nil)
        #expect(try await runs.redrive(id: request.id, actor: "ops").result.status == .succeeded)
    }

    /// A run stopped from outside (its task cancelled, as the bot stops on SIGTERM) leaves the execution RUNNING at
    /// its last checkpoint, with nothing of the interrupted step recorded; resuming it finishes it.
    @Test(arguments: StoreKind.allCases) func aStoppedRunStaysRunningAndIsResumed(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let (dir, store) = (made.directoryURL, made.store)
        let runs = WorkflowRuns(store: store, settings: WorkflowRuns.Settings(temporaryDirectory: dir.path, killGrace: 0.5))
        var request = Self.request(dir)
        request.definition = .file(
            path: "slow.asl.json",
            text: #"{"StartAt": "First", "States": {"First": {"Type": "Pass", "Next": "Slow"}, "Slow": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["sh", "-c", "touch started; sleep 3; printf '{}'"]}, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true}, "Caught": {"Type": "Fail", "Error": "Caught"}}}"#)
        let run = Task { try await runs.start(request) }
        #expect(try await eventually { FileManager.default.fileExists(atPath: dir.appendingPathComponent("started").path) })
        run.cancel()
        let outcome = try await run.value
        #expect(outcome.stopped)
        let record = try #require(try await store.execution(id: request.id))
        #expect(record.status == .running)
        let types = try await store.events(executionID: request.id).map(\.type)
        #expect(!types.contains("ExecutionFailed") && !types.contains("TaskFailed") && !types.contains("FailStateEntered"), "\(types)")
        let resumed = try await runs.resume(id: request.id)
        #expect(resumed.result.status == .succeeded, "\(resumed.result)")
    }
}
