import AsyncHTTPClient
import NIOHTTP1
import Foundation
import ReviewClients
import ReviewFakes
import Testing

@Suite struct GerritClientTests {
    static let password = "stepbot-Secret-42"

    /// A fake with accounts stepbot (Code-Review -1..+1) and alice, and a client signed in as stepbot.
    func setUp(
        _ fake: FakeServer, _ http: HTTPClient, retry: RetryPolicy = SleepRecorder().policy(),
        readTimeout: Duration = .seconds(5), password: String = GerritClientTests.password
    ) async throws -> GerritClient {
        try await fake.control(
            .POST, "accounts",
            ["username": "stepbot", "http_password": Self.password, "ranges": ["Code-Review": [-1, 1]]])
        try await fake.control(.POST, "accounts", ["username": "alice", "http_password": "alice-pw"])
        return try GerritClient(
            server: "review", baseURL: fake.baseURL,
            credentials: GerritCredentials(
                username: "stepbot", passwordFile: try fake.secretFile("gerrit-password", password)),
            client: http,
            configuration: ReviewHTTPConfiguration(readTimeout: readTimeout, retry: retry), logger: testLogger)
    }

    @discardableResult
    func createChange(_ fake: FakeServer, project: String = "demo", subject: String = "Add neg()") async throws
        -> [String: Any]
    {
        try await fake.object(
            .POST, "changes",
            ["project": project, "subject": subject, "owner": "alice", "files": ["src/calc.py", "README.md"]])
    }

    @Test func authenticatesAndReadsItsOwnAccount() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            let me = try await gerrit.accountSelf()
            #expect(me.username == "stepbot")
            #expect(me.accountID == 1_000_000)
            let requests = try await fake.requests()
            #expect(requests.map { $0["path"] as? String } == ["/a/accounts/self"])
            #expect(requests.first?["user"] as? String == "stepbot")
        }
    }

    @Test func wrongPasswordIsUnauthorizedAndNotRetried() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http, password: "wrong-password-123")
            let error = try await #require(throws: ReviewClientError.self) { try await gerrit.accountSelf() }
            #expect(error == .unauthorized)
            #expect(error.status == 401)
            #expect(error.bodyExcerpt.contains("Unauthorized"))
            #expect(error.server == "review")
            #expect(!"\(error)".contains("wrong-password-123"))
            #expect(try await fake.requests().count == 1)
        }
    }

    @Test func missingPasswordFileIsAConfigurationError() async throws {
        try await ReviewHTTP.withHTTPClient { http in
            let error = try #require(throws: ReviewClientError.self) {
                try GerritClient(
                    server: "review", baseURL: "http://127.0.0.1:1",
                    credentials: GerritCredentials(username: "stepbot", passwordFile: "/nonexistent/gerrit-password"),
                    client: http, logger: testLogger)
            }
            #expect(error == .configuration)
            #expect("\(error)".contains("/nonexistent/gerrit-password"))
        }
    }

    @Test func anonymousClientSeesOnlyPublicProjects() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            _ = try await setUp(fake, http)
            try await fake.control(.POST, "projects", ["name": "secret", "public": false])
            try await createChange(fake, project: "demo")
            try await createChange(fake, project: "secret")
            let anonymous = try GerritClient(
                server: "review", baseURL: fake.baseURL, credentials: nil, client: http, logger: testLogger)
            let changes = try await anonymous.queryChanges(query: "status:open")
            #expect(changes.map(\.project) == ["demo"])
            let error = try await #require(throws: ReviewClientError.self) { try await anonymous.accountSelf() }
            #expect(error == .forbidden)
        }
    }

    @Test func pagesThroughThreePagesWithMoreChangesAndSkip() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            for i in 1...7 { try await createChange(fake, subject: "Change \(i)") }
            let changes = try await gerrit.queryChanges(
                query: GerritQuery.openChanges(projects: ["demo"]), options: [.currentRevision], pageSize: 3)
            #expect(changes.count == 7)
            #expect(changes.map(\.number) == [7, 6, 5, 4, 3, 2, 1])
            #expect(changes.allSatisfy { $0.moreChanges == nil })
            #expect(zip(changes, changes.dropFirst()).allSatisfy { $0.updated > $1.updated })
            let targets = try await fake.requests(matching: "^/a/changes/").compactMap { $0["target"] as? String }
            #expect(targets.count == 3)
            #expect(!targets[0].contains("S="))
            #expect(targets[1].contains("S=3"))
            #expect(targets[2].contains("S=6"))
        }
    }

    @Test func narrowsToProjectsAndUpdatedAfter() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake, project: "a")
            let second = try await createChange(fake, project: "b")
            try await createChange(fake, project: "c")
            try await createChange(fake, project: "a")
            let since = try #require(GerritTimestamp(second["updated"] as? String ?? ""))
            let query = GerritQuery.openChanges(projects: ["a", "b"], after: since)
            #expect(query == "(project:a OR project:b) status:open after:\"\(since)\"")
            let changes = try await gerrit.queryChanges(query: query, options: GerritQueryOption.botPolling)
            #expect(changes.map(\.number) == [4, 2])
        }
    }

    @Test func decodesDetailedLabelsRevisionsFilesAndMessages() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            let created = try await createChange(fake)
            try await fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
            let change = try #require(
                try await gerrit.queryChanges(query: "status:open", options: GerritQueryOption.botPolling).first)
            #expect(change.id == "demo~1")
            #expect(change.status == .new)
            #expect(change.owner.username == "alice")
            #expect(change.currentRevision == created["current_revision"] as? String)
            let revision = try #require(change.currentRevisionInfo)
            #expect(revision.number == 1)
            #expect(revision.ref == "refs/changes/01/1/1")
            #expect(Set((revision.files ?? [:]).keys) == ["src/calc.py", "README.md"])
            let codeReview = try #require(change.labels?["Code-Review"])
            #expect(codeReview.approved?.username == "alice")
            #expect(codeReview.votes.map(\.value) == [2])
            #expect(codeReview.votes.first?.permittedVotingRange == VotingRangeInfo(min: -2, max: 2))
            #expect(codeReview.values?[" 0"] == "No score")
            #expect(codeReview.allowedValues == [-2, -1, 0, 1, 2])
            let verified = try #require(change.labels?["Verified"])
            #expect(verified.all?.first?.value == 0)  // alice voted elsewhere: an entry with 0
            #expect(change.permittedLabels?["Code-Review"] == ["-1", " 0", "+1"])
            #expect(change.messages?.last?.message.contains("Code-Review+2") == true)
        }
    }

    @Test func postReviewStoresMessageLabelsAndCommentsWithTag() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            let created = try await createChange(fake)
            let sha = try #require(created["current_revision"] as? String)
            let before = try await gerrit.getChange("demo~1").updated
            let input = ReviewInput(
                message: "stepgate: 1 finding.", labels: ["Verified": 1],
                comments: [
                    "src/calc.py": [
                        CommentInput(line: 2, message: "Prefer an f-string here.", unresolved: true),
                        CommentInput(
                            range: CommentRange(startLine: 1, startCharacter: 0, endLine: 2, endCharacter: 10),
                            message: "range comment"),
                    ],
                    "/PATCHSET_LEVEL": [CommentInput(message: "patchset-level")],
                ], notify: NotifyHandling.none)
            let result = try await gerrit.postReview(
                changeID: GerritClient.changeID(project: "demo", number: 1), revision: sha, input)
            #expect(result.labels == ["Verified": 1])

            let reviews = try await fake.control(.GET, "reviews") as? [[String: Any]] ?? []
            let posted = try #require(reviews.first?["input"] as? [String: Any])
            #expect(posted["tag"] as? String == "autogenerated:stepgate")
            #expect(posted["notify"] as? String == "NONE")
            #expect(posted["omit_duplicate_comments"] as? Bool == true)

            let comments = try await gerrit.listComments(changeID: "demo~1")
            #expect(comments["src/calc.py"]?.count == 2)
            #expect(comments["src/calc.py"]?.allSatisfy { $0.tag == ReviewInput.stepgateTag } == true)
            #expect(comments["src/calc.py"]?.first { $0.line == 2 }?.unresolved == true)
            #expect(comments["/PATCHSET_LEVEL"]?.count == 1)

            let change = try await gerrit.getChange("demo~1", options: [.detailedLabels, .messages, .detailedAccounts])
            #expect(change.updated > before)
            let mine = try #require(change.messages?.last)
            #expect(mine.tag == "autogenerated:stepgate")
            #expect(mine.author?.username == "stepbot")
            #expect(mine.message.contains("stepgate: 1 finding."))
            #expect(change.labels?["Verified"]?.approved?.username == "stepbot")

            // omit_duplicate_comments: posting the same comments again adds none
            _ = try await gerrit.postReview(changeID: "demo~1", revision: sha, input)
            #expect(try await gerrit.listComments(changeID: "demo~1")["src/calc.py"]?.count == 2)
        }
    }

    @Test func voteOutsideRangeIsForbiddenAndClosedChangeIsConflict() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake)
            let forbidden = try await #require(throws: ReviewClientError.self) {
                try await gerrit.postReview(changeID: "demo~1", revision: "current", ReviewInput(labels: ["Code-Review": 2]))
            }
            #expect(forbidden == .forbidden)
            #expect(forbidden.bodyExcerpt.contains("Applying label \"Code-Review\": 2 is restricted"))
            try await fake.control(.POST, "changes/1/abandon", [:])
            let conflict = try await #require(throws: ReviewClientError.self) {
                try await gerrit.postReview(changeID: "demo~1", revision: "1", ReviewInput(labels: ["Verified": 1]))
            }
            #expect(conflict == .conflict)
            #expect(conflict.status == 409)
            #expect(try await fake.requests(matching: "/review$").count == 2)  // neither retried
        }
    }

    @Test func unknownLabelIsSilentlyDropped() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake)
            let result = try await gerrit.postReview(
                changeID: "demo~1", revision: "current", ReviewInput(labels: ["Verified": -1, "No-Such-Label": 1]))
            #expect(result.labels == ["Verified": -1])
        }
    }

    @Test func retriesServerErrorsAndRateLimitsHonouringRetryAfter() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let sleeps = SleepRecorder()
            let gerrit = try await setUp(fake, http, retry: sleeps.policy(maxAttempts: 4))
            try await createChange(fake)
            try await fake.fault(["kind": "status", "status": 500, "path": "^/a/changes/"])
            try await fake.fault(["kind": "status", "status": 503, "path": "^/a/changes/"])
            try await fake.fault(["kind": "status", "status": 429, "retry_after": "2", "path": "^/a/changes/"])
            let changes = try await gerrit.queryChanges(query: "status:open")
            #expect(changes.count == 1)
            let attempts = try await fake.requests(matching: "^/a/changes/")
            #expect(attempts.map { $0["status"] as? Int } == [500, 503, 429, 200])
            #expect(sleeps.delays.count == 3)
            #expect(sleeps.delays[0] == .milliseconds(10))  // full jitter at its cap (random injected)
            #expect(sleeps.delays[1] == .milliseconds(20))
            #expect(sleeps.delays[2] == .seconds(2))  // Retry-After
        }
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http, retry: SleepRecorder().policy(maxAttempts: 3))
            try await fake.fault(["kind": "status", "status": 502, "count": 10])
            let error = try await #require(throws: ReviewClientError.self) { try await gerrit.accountSelf() }
            #expect(error == .server)
            #expect(error.attempts == 3)
            #expect(error.isTransient)
            #expect(try await fake.requests().count == 3)
        }
    }

    @Test func retriesMalformedAndTruncatedBodies() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake)
            try await fake.fault(["kind": "malformed", "path": "^/a/changes/"])
            try await fake.fault(["kind": "truncate", "path": "^/a/changes/"])
            let changes = try await gerrit.queryChanges(query: "status:open", options: [.detailedLabels])
            #expect(changes.count == 1)
            let faults = try await fake.requests(matching: "^/a/changes/").map { $0["fault"] as? String }
            #expect(faults == ["malformed", "truncate", nil])
        }
    }

    @Test func hangHitsTheReadTimeoutAndIsRetried() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http, readTimeout: .milliseconds(600))
            try await fake.fault(["kind": "hang", "seconds": 3, "path": "accounts/self"])
            let started = ContinuousClock.now
            let me = try await gerrit.accountSelf()
            #expect(me.username == "stepbot")
            #expect(ContinuousClock.now - started >= .milliseconds(600))
            #expect(try await fake.requests(matching: "accounts/self").count == 2)
        }
    }

    @Test func notFoundIsNotRetried() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            let error = try await #require(throws: ReviewClientError.self) { try await gerrit.getChange("demo~999") }
            #expect(error == .notFound)
            #expect(error.path == "/a/changes/demo~999")
            #expect(try await fake.requests().count == 1)
        }
    }

    @Test func reviewIsNotRetriedAfterA500ButIsAfterA503() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake)
            try await fake.fault(["kind": "status", "status": 500, "path": "/review$"])
            let error = try await #require(throws: ReviewClientError.self) {
                try await gerrit.postReview(changeID: "demo~1", revision: "current", ReviewInput(message: "x"))
            }
            #expect(error == .server)
            try await fake.fault(["kind": "status", "status": 503, "path": "/review$"])
            _ = try await gerrit.postReview(changeID: "demo~1", revision: "current", ReviewInput(message: "y"))
            #expect(try await fake.requests(matching: "/review$").count == 3)
        }
    }

    @Test func listsRevisionFilesIncludingCommitMessage() async throws {
        try await withFake("gerrit_fake.py") { fake, http in
            let gerrit = try await setUp(fake, http)
            try await createChange(fake)
            let files = try await gerrit.listRevisionFiles(changeID: "demo~1", revision: "current")
            #expect(Set(files.keys) == ["/COMMIT_MSG", "src/calc.py", "README.md"])
            #expect(gerrit.gitURL(project: "demo") == fake.baseURL + "/a/demo")
        }
    }
}
