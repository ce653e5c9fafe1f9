import Foundation
import StatesLanguage
import Store
import StoreTestSupport
import Testing

/// The v4 records, on SQLite and PostgreSQL alike: the bot's notices (an outbox), when a report's post began, and redrive.
@Suite struct ExactlyOnceStoreTests {
    @Test(arguments: StoreKind.allCases) func aNoticeIsRecordedOnceAndItsCommentIsDeliveredWithIt(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        try await store.createExecution(NewExecution(id: "e1", workflow: "w", input: .null, definition: "{}"))
        let comment = try await store.addComment(executionID: "e1", taskKey: "k", message: "hello")
        let first = try await store.enqueueBotNotice(
            BotNoticeRecord(key: "e1/comment-1", server: "review", target: "{}", message: "hello", commentID: comment.id))
        #expect(first.state == "pending")
        try await store.setBotNoticeState(key: "e1/comment-1", state: "posting")
        // The same key again (a replay): the notice as it stands, not a second one.
        let again = try await store.enqueueBotNotice(BotNoticeRecord(key: "e1/comment-1", server: "review", target: "{}", message: "other"))
        #expect(again.state == "posting" && again.message == "hello" && again.postingSince != nil)
        #expect(try await store.unpostedBotNotices(server: "review").map(\.key) == ["e1/comment-1"])
        #expect(try await store.comments(executionID: "e1", undeliveredOnly: true).count == 1)
        try await store.setBotNoticeState(key: "e1/comment-1", state: "posted")
        #expect(try await store.unpostedBotNotices(server: "review").isEmpty)
        #expect(try await store.comments(executionID: "e1", undeliveredOnly: true).isEmpty)
        try await store.enqueueBotNotice(BotNoticeRecord(key: "n2", server: "review", target: "{}", message: "m"))
        try await store.setBotNoticeState(key: "n2", state: "rejected")
        #expect(try await store.unpostedBotNotices(server: "review").isEmpty, "a refused notice is not tried again")
    }

    @Test(arguments: StoreKind.allCases) func aReportRecordsWhenItsPostBegan(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        _ = try await store.claimBotExecution(
            BotReportRecord(executionID: "e1", dedupeKey: "k", reviewKey: "r", workflow: "w", target: "{}", revisionNumber: 1))
        #expect(try await store.botReport(executionID: "e1")?.postingSince == nil)
        let began = Date(timeIntervalSince1970: 1_700_000_000)
        try await store.setBotReportState(executionID: "e1", state: "posting", detail: nil, from: nil, at: began)
        try await store.setBotReportState(
            executionID: "e1", state: "posted", detail: nil, from: nil, at: began.addingTimeInterval(5))
        #expect(try await store.botReport(executionID: "e1")?.postingSince == began)
        #expect(try await store.reopenBotReport(executionID: "e1", detail: "redriven (1)"))
        let reopened = try #require(try await store.botReport(executionID: "e1"))
        #expect(reopened.state == "pending" && reopened.postingSince == nil)
        #expect(try await store.reopenBotReport(executionID: "e1", detail: "again") == false, "only a finished report is reopened")
    }

    @Test(arguments: StoreKind.allCases) func theStateAnExecutionFailedInIsKeptAndARedriveStartsThere(kind: StoreKind) async throws {
        let made = try await TestStores.make(kind)
        defer { made.remove() }
        let store = made.store
        try await store.createExecution(NewExecution(id: "e1", workflow: "w", input: .object(JSONObject()), definition: "{}"))
        let atB = Checkpoint(stateName: "B", input: .object(JSONObject([("x", 1)])), variables: ["v": 2], eventCount: 4, transitions: 1)
        try await store.recordTransition(
            executionID: "e1", events: (1...4).map { StoredEvent(seq: $0, type: "E\($0)", json: .object(JSONObject())) }, checkpoint: atB)
        try await store.recordTaskResult(executionID: "e1", key: "A#0", outcome: .succeeded(.int(1)))
        try await store.recordTaskResult(executionID: "e1", key: "B#0", outcome: .failed(error: "X", cause: "y"))
        let end = Checkpoint(stateName: nil, input: .null, variables: [:], eventCount: 6, transitions: 1)
        try await store.recordTransition(
            executionID: "e1", events: [StoredEvent(seq: 5, type: "TaskFailed", json: .null), StoredEvent(seq: 6, type: "ExecutionFailed", json: .null)],
            checkpoint: end, ending: ExecutionEnding(status: .failed, error: "X", cause: "y"))
        #expect(try await store.checkpoint(executionID: "e1")?.stateName == nil)
        #expect(try await store.redrivePoint(executionID: "e1") == atB)
        let audit = AuditEntry(actor: "ops", action: "execution.redrive", target: "execution e1", result: "redriven")
        let count = try await store.beginRedrive(
            executionID: "e1", from: [.failed], point: atB,
            event: { seq, n in StoredEvent(seq: seq, type: "ExecutionRedriven", json: .object(JSONObject([("n", .int(n))]))) }, audit: audit)
        #expect(count == 1)
        let record = try #require(try await store.execution(id: "e1"))
        #expect(record.status == .running && record.error == nil && record.finished == nil && record.redriveCount == 1)
        #expect(try await store.events(executionID: "e1").last?.seq == 7)
        var expected = atB
        expected.eventCount = 7
        #expect(try await store.checkpoint(executionID: "e1") == expected)
        #expect(try await store.taskResult(executionID: "e1", key: "A#0") == .succeeded(.int(1)), "a succeeded task is kept")
        #expect(try await store.taskResult(executionID: "e1", key: "B#0") == nil, "the failed task runs again")
        // Only from the statuses given: a RUNNING execution is not redriven twice.
        await #expect(throws: StoreError.self) {
            try await store.beginRedrive(
                executionID: "e1", from: [.failed], point: atB,
                event: { seq, _ in StoredEvent(seq: seq, type: "ExecutionRedriven", json: .null) }, audit: audit)
        }
    }
}
