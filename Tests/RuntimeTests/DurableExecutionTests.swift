import Foundation
import Runtime
import StatesLanguage
import Store
import Testing

@Suite struct DurableExecutionTests {
    let linear = """
        {"StartAt": "Prepare", "States": {
          "Prepare": {"Type": "Pass", "Result": {"n": 1}, "Next": "Build"},
          "Build": {"Type": "Task", "Resource": "work", "Credentials": {"RoleArn": "ci-readonly"}, "ResultPath": "$.build", "Next": "Test"},
          "Test": {"Type": "Task", "Resource": "work", "Parameters": {"step": "test"}, "ResultPath": "$.test", "Next": "Done"},
          "Done": {"Type": "Succeed"}}}
        """

    @Test func eventsCheckpointsTaskResultsAndAuditArePersisted() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("s.db").path)
        let tasks = CountingExecutor()
        let trigger = try JSONParser.parse(#"{"trigger":"gerrit","repository":"demo","patchSet":{"revision":"abc"}}"#)
        let result = try await DurableExecutions(store: store).start(
            id: "exec-1", definitionText: linear, machine: try compileUnchecked(linear), workflow: "ci", input: .object(JSONObject()),
            trigger: trigger, tasks: tasks, clock: VirtualClock())
        #expect(result.status == .succeeded)
        #expect(tasks.calls.count == 2)

        let record = try #require(try await store.execution(id: "exec-1"))
        #expect(record.status == .succeeded && record.output == result.output && record.finished != nil)
        #expect(record.repository == "demo" && record.revision == "abc" && record.definition == linear)

        let events = try await store.events(executionID: "exec-1")
        #expect(events.map(\.seq) == Array(1...result.history.count))
        #expect(events.map(\.type) == result.history.map(\.type.rawValue))
        #expect(events.map(\.json) == result.history.map(\.json))
        let checkpoint = try #require(try await store.checkpoint(executionID: "exec-1"))
        #expect(checkpoint.stateName == nil && checkpoint.eventCount == events.count && checkpoint.transitions == 4)

        #expect(try await store.taskResult(executionID: "exec-1", key: "/Build#0") != nil)
        let audit = try await store.audit.entries()
        #expect(audit.map(\.action) == ["task.run", "task.run"])
        #expect(audit.map(\.role) == ["ci-readonly", ""])
        #expect(audit.allSatisfy { $0.actor == "stepgate" && $0.repository == "demo" && $0.revision == "abc" && $0.result == "succeeded" })
        #expect(audit[0].target.hasPrefix("work"))
        #expect(try await store.audit.verify().isIntact)
    }

    @Test func aFailedTaskIsRecordedAndTheExecutionFails() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("s.db").path)
        let text = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fail","End":true}}}"#
        let result = try await DurableExecutions(store: store).start(
            id: "f", definitionText: text, machine: try compileUnchecked(text), workflow: "w", input: .null, tasks: CountingExecutor(),
            clock: VirtualClock())
        #expect(result.status == .failed && result.error == "Custom.Failure")
        let record = try #require(try await store.execution(id: "f"))
        #expect(record.status == .failed && record.error == "Custom.Failure" && record.cause == "asked to fail")
        #expect(try await store.taskResult(executionID: "f", key: "/T#0") == .failed(error: "Custom.Failure", cause: "asked to fail"))
        #expect(try await store.audit.entries().map(\.result) == ["failed: Custom.Failure"])
    }

    /// A process dies while a Map is half done: the resumed execution does not run again the tasks
    /// that had finished (before the Map, and the Map iterations that completed).
    @Test func resumingAfterACrashDoesNotRepeatFinishedTasks() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.db").path
        let text = """
            {"StartAt": "A", "States": {
              "A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work", "Parameters": {"step": "a"}, "ResultPath": "$.a", "Next": "B"},
              "B": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work", "Parameters": {"step": "b"}, "ResultPath": "$.b", "Next": "Each"},
              "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.each", "Next": "D",
                "ItemProcessor": {"StartAt": "Item", "States": {
                  "Item": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work", "End": true}}}},
              "D": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work", "Parameters": {"step": "d"}, "ResultPath": "$.d", "End": true}}}
            """
        let machine = try compileUnchecked(text)
        let input = try JSONParser.parse(#"{"items": [1, 2, 3]}"#)

        // The first "process": item 3 never finishes.
        let first = CountingExecutor(hangOn: ["Item:3"])
        let firstStore = try SQLiteStore(url: path)
        let crashed = Task {
            try await DurableExecutions(store: firstStore).start(
                id: "crash", definitionText: text, machine: machine, workflow: "w", input: input, tasks: first,
                clock: SystemClock())
        }
        defer { crashed.cancel() }
        // A, B, item 1 and item 2 have finished and been recorded (each with its audit entry).
        #expect(try await eventually { try await firstStore.audit.entries().count == 4 })
        #expect(try await firstStore.checkpoint(executionID: "crash")?.stateName == "Each")
        #expect(try await firstStore.execution(id: "crash")?.status == .running)

        // The second "process" opens the same file and resumes.
        let second = CountingExecutor()
        let store = try SQLiteStore(url: path)
        let resumed = try await DurableExecutions(store: store).resumeIncomplete(tasks: second, clock: VirtualClock())
        #expect(resumed.map(\.id) == ["crash"])
        let result = try #require(resumed.first?.result)
        #expect(result.status == .succeeded, "\(result.json)")
        #expect(second.calls.sorted() == ["D:{\"step\":\"d\"}", "Item:3"])
        let each = result.output?["each"]?.arrayValue?.compactMap { $0["echo"] }
        #expect(each == [.int(1), .int(2), .int(3)])

        let record = try #require(try await store.execution(id: "crash"))
        #expect(record.status == .succeeded)
        let events = try await store.events(executionID: "crash")
        #expect(events.map(\.seq) == Array(1...events.count))
        #expect(events.first?.type == "ExecutionStarted" && events.last?.type == "ExecutionSucceeded")
        #expect(try await store.audit.verify().isIntact)
        #expect(try await store.audit.entries().count == 6)
    }

    @Test func approvalTimesOutOnAVirtualClock() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("s.db").path)
        let text = """
            {"StartAt": "Gate", "States": {"Gate": {"Type": "Task", "Resource": "stepgate:approval",
              "Parameters": {"message": "deploy?"}, "TimeoutSeconds": 30, "End": true}}}
            """
        let clock = VirtualClock()
        let start = clock.now()
        let result = try await DurableExecutions(store: store).start(
            id: "t", definitionText: text, machine: try compileUnchecked(text), workflow: "w", input: .null, tasks: NoTaskExecutor(),
            clock: clock)
        #expect(result.status == .failed && result.error == "States.Timeout", "\(result.json)")
        #expect(clock.now().timeIntervalSince(start) >= 30 && clock.now().timeIntervalSince(start) < 31)
        let approvals = try await store.approvals(executionID: "t")
        #expect(approvals.map(\.status) == [.timedOut])
    }

    @Test func approvalNeedsTimeoutSeconds() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("s.db").path)
        let text = #"{"StartAt":"Gate","States":{"Gate":{"Type":"Task","Resource":"stepgate:approval","End":true}}}"#
        let result = try await DurableExecutions(store: store).start(
            id: "n", definitionText: text, machine: try compileUnchecked(text), workflow: "w", input: .null, tasks: NoTaskExecutor(),
            clock: VirtualClock())
        #expect(result.status == .failed && result.error == "States.TaskFailed")
        #expect(result.cause == "stepgate:approval needs TimeoutSeconds")
        #expect(try await store.approvals(executionID: "n").isEmpty)
    }

    @Test func aCommentReplayedAfterACrashIsRecordedOnce() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(url: dir.appendingPathComponent("s.db").path)
        try await store.createExecution(NewExecution(id: "c", workflow: "w", input: .null, definition: "{}"))
        let resources = StepgateResources(store: store, inner: NoTaskExecutor(), clock: VirtualClock())
        let text = #"{"StartAt":"C","States":{"C":{"Type":"Task","Resource":"stepgate:comment","Parameters":{"message":"hi"},"End":true}}}"#
        // Run the resource twice with the same key (no memo in front), as a replay after a crash
        // between the comment and its task record would.
        var outputs: [JSON] = []
        for _ in 0..<2 {
            let interp = Interpreter(
                machine: try compileUnchecked(text), identity: ExecutionIdentity(executionID: "c", name: "c"),
                environment: ExecutionEnvironment(clock: VirtualClock(), tasks: resources))
            outputs.append(try #require(await interp.run(input: .null).output))
        }
        #expect(outputs[0] == outputs[1])
        #expect(try await store.comments(executionID: "c").map(\.message) == ["hi"])
    }
}

