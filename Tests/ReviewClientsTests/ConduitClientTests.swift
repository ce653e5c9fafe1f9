import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReviewClients
import ReviewFakes
import Testing

@Suite struct ConduitClientTests {
    struct World {
        var conduit: ConduitClient
        var token: String
        var botPHID: String
        var repositoryPHID: String
    }

    /// A fake with users stepbot and alice, repository rDEMO, and a client signed in as stepbot.
    func setUp(_ fake: FakeServer, _ http: HTTPClient, retry: RetryPolicy = SleepRecorder().policy()) async throws
        -> World
    {
        let bot = try await fake.object(.POST, "users", ["userName": "stepbot", "bot": true])
        try await fake.control(.POST, "users", ["userName": "alice"])
        let repo = try await fake.object(.POST, "repositories", ["name": "demo", "callsign": "DEMO", "shortName": "demo"])
        let token = try #require(bot["token"] as? String)
        let conduit = try ConduitClient(
            server: "phab", baseURL: fake.baseURL,
            credentials: ConduitCredentials(tokenFile: try fake.secretFile("conduit-token", token)), client: http,
            configuration: ReviewHTTPConfiguration(retry: retry), logger: testLogger)
        return World(
            conduit: conduit, token: token, botPHID: try #require(bot["phid"] as? String),
            repositoryPHID: try #require(repo["phid"] as? String))
    }

    @discardableResult
    /// A revision as `arc diff` makes it, or with `raw` as `differential.createrawdiff` makes it (no refs, no arc
    /// results on the autotargets).
    func createRevision(_ fake: FakeServer, title: String = "Add neg()", diff: String? = nil, raw: Bool = false) async throws
        -> [String: Any]
    {
        var body: [String: Any] = ["author": "alice", "title": title, "repository": "DEMO", "reviewers": ["stepbot"], "raw": raw]
        if let diff { body["diff"] = diff }
        return try await fake.object(.POST, "revisions", body)
    }

    static let calcDiff = """
        diff --git a/src/calc.py b/src/calc.py
        --- a/src/calc.py
        +++ b/src/calc.py
        @@ -1,2 +1,5 @@
         def add(a, b):
             return a + b
        +
        +def neg(a):
        +    return -a
        diff --git a/README.md b/README.md
        --- a/README.md
        +++ b/README.md
        @@ -1 +1,2 @@
         # calc
        +Now with neg().

        """

    @Test func sendsTheTokenInsideConduitNeverAsApiToken() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            let me = try await world.conduit.whoami()
            #expect(me.userName == "stepbot")
            #expect(me.phid == world.botPHID)
            let request = try #require(try await fake.requests().first)
            #expect(request["path"] as? String == "/api/user.whoami")
            #expect(request["form_keys"] as? [String] == ["__conduit__", "output", "params"])
        }
    }

    @Test func aSeparateApiTokenNextToParamsIsAnInvalidSession() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            var request = HTTPClientRequest(url: fake.baseURL + "/api/user.whoami")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: "api.token=\(world.token)&output=json&params=%7B%7D"))
            let response = try await http.execute(request, timeout: .seconds(5))
            #expect(response.status.code == 200)
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            #expect(json?["error_code"] as? String == "ERR-INVALID-SESSION")
            #expect(json?["error_info"] as? String == "Session key is not present.")
        }
    }

    @Test func errorEnvelopesBecomeTypedErrorsWithoutTheToken() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            struct NoParams: Encodable, Sendable {}
            let unknown = try await #require(throws: ReviewClientError.self) {
                try await world.conduit.call("no.such.method", params: NoParams(), as: String.self, idempotent: true)
            }
            #expect(unknown == .conduit("ERR-CONDUIT-CALL", nil))
            #expect(unknown.conduitInfo == "Conduit method \"no.such.method\" does not exist.")
            #expect(!unknown.isTransient)

            // A token of the wrong length is echoed by Phorge in error_info: it must not leak into the error.
            let badToken = "api-not-a-real-token"
            let bad = try ConduitClient(
                server: "phab", baseURL: fake.baseURL,
                credentials: ConduitCredentials(tokenFile: try fake.secretFile("bad-token", badToken)), client: http,
                logger: testLogger)
            let auth = try await #require(throws: ReviewClientError.self) { try await bad.whoami() }
            #expect(auth.isInvalidAuth)
            #expect(auth == .invalidAuth)
            #expect(!"\(auth)".contains(badToken))
            #expect(!auth.bodyExcerpt.contains(badToken))
            #expect("\(auth)".contains("<redacted>"))

            try await fake.fault(["kind": "conduit_error", "code": "ERR-CONDUIT-CORE", "info": "injected"])
            let core = try await #require(throws: ReviewClientError.self) { try await world.conduit.whoami() }
            #expect(core.conduitCode == "ERR-CONDUIT-CORE")
            #expect(try await fake.requests(matching: "whoami").count == 2)  // neither retried
        }
    }

    @Test func followsTheAfterCursorOrderedByUpdated() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            for i in 1...7 { try await createRevision(fake, title: "Revision \(i)") }
            try await fake.control(.POST, "revisions/2/comments", ["author": "alice", "content": "bump"])
            let revisions = try await world.conduit.searchRevisions(
                RevisionSearchConstraints(statuses: ["needs-review"]), pageSize: 3)
            #expect(revisions.map(\.id) == [2, 7, 6, 5, 4, 3, 1])
            #expect(zip(revisions, revisions.dropFirst()).allSatisfy { $0.fields.dateModified > $1.fields.dateModified })
            #expect(revisions.first?.reviewers?.first?.reviewerPHID == world.botPHID)
            #expect(revisions.first?.fields.repositoryPHID == world.repositoryPHID)
            #expect(revisions.first?.fields.status.value == "needs-review")
            #expect(try await fake.requests(matching: "revision.search").count == 3)
        }
    }

    @Test func readsDiffsChangesetsAndTheRawDiff() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            let created = try await createRevision(fake, diff: Self.calcDiff)
            let revisionPHID = try #require(created["phid"] as? String)
            let diffs = try await world.conduit.searchDiffs(revisionPHIDs: [revisionPHID])
            let diff = try #require(diffs.first)
            #expect(diff.id == created["diffID"] as? Int)
            #expect(diff.baseCommit?.count == 40)
            #expect(diff.branch == "main")
            let changesets = try await world.conduit.searchChangesets(diffPHIDs: [diff.phid])
            #expect(Set(changesets.map(\.path)) == ["src/calc.py", "README.md"])
            let raw = try await world.conduit.rawDiff(diffID: diff.id)
            #expect(raw == Self.calcDiff)
            let missing = try await #require(throws: ReviewClientError.self) {
                try await world.conduit.rawDiff(diffID: 999)
            }
            #expect(missing.conduitCode == "ERR_NOT_FOUND")
            let repos = try await world.conduit.searchRepositories(phids: [world.repositoryPHID])
            #expect(repos.map(\.monogram) == ["rDEMO"])
            #expect(repos.first?.fields.shortName == "demo")
        }
    }

    @Test func harbormasterMessagesAreStoredAndWritesBumpDateModified() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            let created = try await createRevision(fake, diff: Self.calcDiff, raw: true)
            let diffPHID = try #require(created["diffPHID"] as? String)
            func modified() async throws -> Int {
                try #require(try await world.conduit.searchRevisions(RevisionSearchConstraints(ids: [1])).first)
                    .fields.dateModified
            }
            let initial = try await modified()

            let targets = try await world.conduit.queryAutotargets(diffPHID: diffPHID)
            #expect(Set(targets.keys) == ["arcanist.lint", "arcanist.unit"])
            #expect(try await world.conduit.queryAutotargets(diffPHID: diffPHID) == targets)  // created once
            #expect(try await modified() == initial)  // creating targets is not an edit

            try await world.conduit.sendMessage(
                buildTargetPHID: try #require(targets["arcanist.lint"]), type: .fail,
                lint: [
                    HarbormasterLintResult(
                        name: "Missing docstring", code: "STEPBOT1", severity: "error", path: "src/calc.py", line: 4,
                        char: 1, description: "stepgate: document neg()")
                ])
            try await world.conduit.sendMessage(
                buildTargetPHID: try #require(targets["arcanist.unit"]), type: .pass,
                unit: [HarbormasterUnitResult(name: "test_neg", result: "pass", namespace: "stepgate", duration: 0.01)])
            let afterMessages = try await modified()
            #expect(afterMessages > initial)

            // The messages are stored at once; the pass/fail reaches the targets a moment later (Phorge's daemons).
            let phids = Array(targets.values)
            var statuses: [String: String] = [:]
            for _ in 0..<50 {
                statuses = Dictionary(
                    uniqueKeysWithValues: try await world.conduit.searchBuildTargets(phids: phids).map { ($0.phid, $0.fields.status.value) })
                if statuses.values.allSatisfy({ $0 != "target/pending" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(statuses[targets["arcanist.lint"]!] == "target/failed")
            #expect(statuses[targets["arcanist.unit"]!] == "target/passed")
            let stored = try await fake.control(.GET, "harbormaster?diff=\(diffPHID)") as? [[String: Any]] ?? []
            let lintTarget = try #require(stored.first { $0["key"] as? String == "arcanist.lint" })
            let lintMessage = try #require((lintTarget["messages"] as? [[String: Any]])?.first)
            let lint = try #require((lintMessage["lint"] as? [[String: Any]])?.first)
            #expect(lint["code"] as? String == "STEPBOT1")
            #expect(lint["line"] as? Int == 4)
            #expect(stored.first { $0["key"] as? String == "arcanist.unit" } != nil)

            let edit = try await world.conduit.comment(revision: "D1", "stepgate: src/calc.py:4 nit: add a docstring")
            #expect(edit.object.id == 1)
            #expect(edit.transactions.count == 1)
            #expect(try await modified() > afterMessages)
            let revision = try await fake.object(.GET, "revisions/1")
            let comments = revision["comments"] as? [[String: Any]] ?? []
            #expect(comments.last?["content"] as? String == "stepgate: src/calc.py:4 nit: add a docstring")
            #expect(comments.last?["authorPHID"] as? String == world.botPHID)

            // A poller keyed on modifiedStart sees the revision again after its own writes.
            let seen = try await world.conduit.searchRevisions(RevisionSearchConstraints(modifiedStart: afterMessages))
            #expect(seen.map(\.id) == [1])
        }
    }

    @Test func retriesProxyErrorsAndTruncatedAnswersForReads() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            try await createRevision(fake)
            try await fake.fault(["kind": "status", "status": 502, "path": "revision.search"])
            try await fake.fault(["kind": "truncate", "path": "revision.search"])
            try await fake.fault(["kind": "malformed", "path": "revision.search"])
            let revisions = try await world.conduit.searchRevisions(RevisionSearchConstraints())
            #expect(revisions.count == 1)
            #expect(try await fake.requests(matching: "revision.search").count == 4)
        }
    }

    @Test func editsAreNotRetriedAfterAnAmbiguousFailure() async throws {
        try await withFake("conduit_fake.py") { fake, http in
            let world = try await setUp(fake, http)
            try await createRevision(fake)
            try await fake.fault(["kind": "truncate", "path": "revision.edit"])
            let error = try await #require(throws: ReviewClientError.self) {
                try await world.conduit.comment(revision: "D1", "hello")
            }
            #expect(error.isTransient)
            #expect(try await fake.requests(matching: "revision.edit").count == 1)
        }
    }
}
