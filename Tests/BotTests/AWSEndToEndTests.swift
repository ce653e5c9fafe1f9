import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ReviewFakes
import Testing

/// The bot with `engine: aws` against the Gerrit fake and moto's Step Functions server on loopback
/// (`STEPGATE_TEST_AWS_ENDPOINT`, started by `make test` through scripts/with-test-servers.sh): the workflow runs as
/// an AWS execution, its `stepgate:command` task is served as an activity by the bot, and the outcome is reported
/// on the review.
@Suite(.serialized) struct AWSEndToEndTests {
    /// moto's endpoint, emptied and told to execute state machines; nil (and the test failed) when not running.
    static func motoEndpoint() async throws -> String? {
        guard let endpoint = ProcessInfo.processInfo.environment["STEPGATE_TEST_AWS_ENDPOINT"] else {
            Issue.record("STEPGATE_TEST_AWS_ENDPOINT is not set: run the tests through 'make test' or 'scripts/with-test-servers.sh swift test'")
            return nil
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = http.shutdown() }
        var reset = HTTPClientRequest(url: endpoint + "/moto-api/reset")
        reset.method = .POST
        _ = try await http.execute(reset, timeout: .seconds(10))
        var config = HTTPClientRequest(url: endpoint + "/moto-api/config")
        config.method = .POST
        config.headers.add(name: "Content-Type", value: "application/json")
        config.body = .bytes(ByteBuffer(string: #"{"stepfunctions": {"execute_state_machine": true}}"#))
        _ = try await http.execute(config, timeout: .seconds(10))
        return endpoint
    }

    /// bot.yaml's `engine` and `aws` sections for moto, with a credentials file in `dir`.
    static func awsSection(endpoint: String, dir: URL) throws -> String {
        let credentials = dir.appendingPathComponent("aws-credentials")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "[default]\naws_access_key_id = AKIDSTEPGATE\naws_secret_access_key = moto-secret-never-logged\n"
            .write(to: credentials, atomically: true, encoding: .utf8)
        return """
            engine: aws
            aws:
              region: us-east-1
              role-arn: arn:aws:iam::123456789012:role/stepgate-states
              endpoint: \(endpoint)
              name-prefix: sg\(UUID().uuidString.prefix(6).lowercased())
              credentials-file: \(credentials.path)
              poll-interval: 100ms
              workers: 2
            """
    }

    /// The end-to-end world with the bot on `engine: aws` against moto, and what stops it; nil (and the test failed)
    /// when moto is not running.
    static func world() async throws -> (EndToEndTests.World, () -> Void)? {
        guard let endpoint = try await motoEndpoint() else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-aws-\(UUID().uuidString)")
        let world = try await EndToEndTests.World.make(roles: try awsSection(endpoint: endpoint, dir: dir))
        return (world, {
            world.stop()
            try? FileManager.default.removeItem(at: dir)
        })
    }

    /// Runs the stepgate binary; returns its stdout.
    static func stepgate(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: EndToEndTests.binary)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func aVoteRunsTheWorkflowOnAWSWithTheCommandServedAsAnActivityAndReportsOnce() async throws {
        guard let (world, stop) = try await Self.world() else { return }
        defer { stop() }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        var (status, log) = try world.runOnce(timeout: 60)
        #expect(status == 0, "\(log)")
        #expect(!log.contains("moto-secret-never-logged"))

        // Reported like a local run: the summary, the vote and the command's finding at its line.
        let reviews = try await world.reviews()
        #expect(reviews.count == 1, "\(log)")
        let input = try #require(reviews.first?["input"] as? [String: Any])
        #expect((input["labels"] as? [String: Any])?["Verified"] as? Int == 1, "\(input)")
        #expect((input["message"] as? String)?.contains("workflow check succeeded") == true, "\(input)")
        let comments = try #require((input["comments"] as? [String: Any])?["src/a.txt"] as? [[String: Any]], "\(input)")
        #expect(comments.first?["line"] as? Int == 2 && (comments.first?["message"] as? String)?.contains("no tabs") == true)

        // Recorded in stepgate's store with AWS's own history: the task went through an activity on AWS.
        let store = "sqlite://\(world.dir.path)/stepgate.db"
        let list = try JSONSerialization.jsonObject(with: Data(try Self.stepgate(["executions", "list", "--store", store, "--format", "json"]).utf8))
        let executions = try #require((list as? [[String: Any]]) ?? ((list as? [String: Any])?["executions"] as? [[String: Any]]), "\(list)")
        #expect(executions.count == 1 && executions.first?["status"] as? String == "SUCCEEDED", "\(executions)")
        let id = try #require(executions.first?["id"] as? String)
        let shown = try Self.stepgate(["executions", "show", id, "--store", store, "--format", "json"])
        for type in ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted", "ActivitySucceeded", "ExecutionSucceeded"] {
            #expect(shown.contains("\"\(type)\""), "\(type) missing from \(shown)")
        }
        #expect(shown.contains(":activity:"), "\(shown)")

        // Polling again starts nothing: one trigger, one AWS execution, one review.
        (status, log) = try world.runOnce(timeout: 60)
        #expect(status == 0, "\(log)")
        #expect(try await world.reviews().count == 1, "\(log)")
        let again = try Self.stepgate(["executions", "list", "--store", store, "--format", "json"])
        #expect(again.components(separatedBy: "\"id\"").count == 2, "\(again)")
    }

    /// Two reviews in one bot process, each an AWS execution whose command is served as an activity:
    /// the pollers outlive the first execution (a poll given up at AWS would be handed the second
    /// one's task, which then only times out), so both report.
    @Test func twoReviewsInOneProcessAreBothServedAndReported() async throws {
        guard let (world, stop) = try await Self.world() else { return }
        defer { stop() }
        try world.write("src/c.txt", "c\n")
        try world.commit("a second change")
        try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/02/2/1"])
        try await world.fake.control(.POST, "changes", ["project": "demo", "subject": "second", "owner": "alice", "files": ["src/c.txt"]])
        // The bot as a service: change 1 is voted and reported, then change 2, in the same process.
        let bot = try world.launch(["bot", "--config", world.config, "--log-level", "debug"])
        defer { if bot.process.isRunning { kill(bot.process.processIdentifier, SIGKILL); bot.process.waitUntilExit() } }
        func votes(_ change: Int) async throws -> [Int] {
            let reviews = try await world.fake.control(.GET, "reviews?change=\(change)") as? [[String: Any]] ?? []
            return reviews.compactMap { (($0["input"] as? [String: Any])?["labels"] as? [String: Any])?["Verified"] as? Int }
        }
        func waitForReview(_ change: Int) async throws -> [Int] {
            let deadline = Date().addingTimeInterval(45)
            while Date() < deadline {
                let found = try await votes(change)
                if !found.isEmpty { return found }
                try await Task.sleep(for: .milliseconds(200))
            }
            return []
        }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        #expect(try await waitForReview(1) == [1])
        try await world.fake.control(.POST, "changes/2/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        let second = try await waitForReview(2)
        let log = (try? String(contentsOf: bot.stderr, encoding: .utf8)) ?? ""
        #expect(second == [1], "\(log)")
    }
}
