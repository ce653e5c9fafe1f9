@testable import AWS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The Step Functions client against moto's server on loopback (`STEPGATE_TEST_AWS_ENDPOINT`, started by
/// `make test`), with moto executing the definitions.
@Suite(.serialized) struct StepFunctionsClientTests {
    static let role = "arn:aws:iam::123456789012:role/stepgate"

    /// A client of the test server, which is told to run the state machines it is given.
    func withClient(_ body: (StepFunctionsClient) async throws -> Void) async throws {
        guard let text = ProcessInfo.processInfo.environment["STEPGATE_TEST_AWS_ENDPOINT"], let endpoint = URL(string: text + "/") else {
            Issue.record("STEPGATE_TEST_AWS_ENDPOINT is not set: run the tests through 'make test' or 'scripts/with-test-servers.sh swift test'")
            return
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await Self.resetMoto(text, http)
            let credentials = AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "secret-for-moto")
            try await body(StepFunctionsClient(region: "us-east-1", credentials: credentials, endpoint: endpoint, httpClient: http))
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    /// Empties moto and has it execute state machines. (moto's server runs one execution per reset: a second
    /// StartExecution fails inside moto, so each execution here starts on a freshly reset server.)
    static func resetMoto(_ endpoint: String, _ http: HTTPClient) async throws {
        var reset = HTTPClientRequest(url: endpoint + "/moto-api/reset")
        reset.method = .POST
        _ = try await http.execute(reset, timeout: .seconds(10))
        var config = HTTPClientRequest(url: endpoint + "/moto-api/config")
        config.method = .POST
        config.headers.add(name: "Content-Type", value: "application/json")
        config.body = .bytes(ByteBuffer(string: #"{"stepfunctions": {"execute_state_machine": true}}"#))
        _ = try await http.execute(config, timeout: .seconds(10))
    }

    static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

    func waitForEnd(_ client: StepFunctionsClient, _ arn: String) async throws -> StepFunctionsExecution {
        let deadline = Date().addingTimeInterval(30)
        while true {
            let d = try await client.describeExecution(arn: arn)
            if d.status != "RUNNING" || Date() > deadline { return d }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func definitionsArePublishedAsVersionsWithAnAlias() async throws {
        try await withClient { client in
            let name = Self.uniqueName("stepgate-demo-check")
            let first = #"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": 1}, "End": true}}}"#
            let (machine, v1) = try await client.createStateMachine(
                name: name, definition: first, roleArn: Self.role, versionDescription: "demo at 1111111")
            #expect(machine.hasSuffix(":stateMachine:\(name)") && v1?.hasSuffix(":\(name):1") == true, "\(machine) \(String(describing: v1))")
            #expect(try await client.stateMachineArn(named: name) == machine)

            let second = """
                {"StartAt": "Pick", "States": {
                  "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}], "Default": "Small"},
                  "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
                  "Small": {"Type": "Fail", "Error": "Demo.Small", "Cause": "n is too small"}}}
                """
            let v2 = try await client.updateStateMachine(
                arn: machine, definition: second, roleArn: Self.role, versionDescription: "demo at 2222222")
            #expect(v2?.hasSuffix(":\(name):2") == true, "\(String(describing: v2))")
            #expect(try await client.describeStateMachine(arn: machine).definition == second)
            let alias = try await client.setAlias(name: "rev-2222222", stateMachineArn: machine, versionArn: try #require(v2))
            #expect(alias == "\(machine):rev-2222222")
            #expect(try await client.setAlias(name: "rev-2222222", stateMachineArn: machine, versionArn: try #require(v1)) == alias)
        }
    }

    @Test func executionsStartOnceUnderAnIdempotentNameAndAreFollowed() async throws {
        try await withClient { client in
            // (moto cannot start an execution of a published state machine: this one has no version.)
            let second = """
                {"StartAt": "Pick", "States": {
                  "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}], "Default": "Small"},
                  "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
                  "Small": {"Type": "Fail", "Error": "Demo.Small", "Cause": "n is too small"}}}
                """
            let (machine, _) = try await client.createStateMachine(
                name: Self.uniqueName("stepgate-demo-pick"), definition: second, roleArn: Self.role, versionDescription: "",
                publish: false)
            let key = "gerrit|review|demo~7|3|check"
            let execution = StepFunctionsNames.idempotent(key)
            let arn = try await client.startExecution(stateMachineArn: machine, name: execution, input: #"{"n": 5}"#)
            let again = try await client.startExecution(stateMachineArn: machine, name: execution, input: #"{"n": 5}"#)
            #expect(again == arn, "the same name starts the execution once")
            let done = try await waitForEnd(client, arn)
            #expect(done.status == "SUCCEEDED", "\(done)")
            #expect(done.output?.contains(#""size""#) == true && done.output?.contains("big") == true, "\(String(describing: done.output))")
            let history = try await client.executionHistory(arn: arn)
            #expect(history.first?.type == "ExecutionStarted" && history.last?.type == "ExecutionSucceeded", "\(history.map(\.type))")
            #expect(history.map(\.id) == Array(1...history.count))
            let later = try await client.executionHistory(arn: arn, after: 2)
            #expect(later.map(\.id) == Array(3...history.count), "a follower asking again reads only the events after those it has")

            try await Self.resetMoto(client.endpoint.absoluteString.replacingOccurrences(of: "/$", with: "", options: .regularExpression), client.http)
            let (again2, _) = try await client.createStateMachine(
                name: Self.uniqueName("stepgate-demo-pick"), definition: second, roleArn: Self.role, versionDescription: "",
                publish: false)
            let failing = try await client.startExecution(
                stateMachineArn: again2, name: StepFunctionsNames.idempotent(key + "|small"), input: #"{"n": 0}"#)
            let failed = try await waitForEnd(client, failing)
            #expect(failed.status == "FAILED" && failed.error == "Demo.Small" && failed.cause == "n is too small", "\(failed)")
        }
    }

    @Test func errorsAreOneLineWithAWSsType() async throws {
        try await withClient { client in
            do {
                _ = try await client.describeExecution(arn: "arn:aws:states:us-east-1:123456789012:execution:nope:nothing")
                Issue.record("an unknown execution was described")
            } catch let error as AWSError {
                #expect(error.type == "ExecutionDoesNotExist" && error.status == 400, "\(error)")
                #expect(error.description.hasPrefix("Step Functions DescribeExecution: ExecutionDoesNotExist: ") && !error.description.contains("\n"))
            }
            do {
                _ = try await client.createStateMachine(
                    name: Self.uniqueName("bad"), definition: "{not json", roleArn: Self.role, versionDescription: "")
                Issue.record("an invalid definition was accepted")
            } catch let error as AWSError {
                // AWS names it InvalidDefinition; moto's parser answers 400 with its own type.
                #expect(error.status == 400 && error.message.contains("mismatched input") && !error.description.contains("\n"), "\(error)")
            }
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = http.shutdown() }
        let nowhere = StepFunctionsClient(
            region: "us-east-1", credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "hunter2"),
            endpoint: URL(string: "http://127.0.0.1:1/")!, httpClient: http)
        do {
            _ = try await nowhere.describeExecution(arn: "x")
            Issue.record("an unreachable endpoint answered")
        } catch {
            #expect(error.type == "Transport" && !error.description.contains("hunter2"), "\(error)")
        }
    }

    @Test func idempotentNamesAreValidStableAndDistinct() {
        let keys = ["gerrit|review|demo~1|1|check", "gerrit|review|demo~1|2|check", String(repeating: "ü/x ", count: 60), "push|r|main|abc"]
        let names = keys.map { StepFunctionsNames.idempotent($0) }
        #expect(Set(names).count == keys.count)
        #expect(names == keys.map { StepFunctionsNames.idempotent($0) })
        for name in names {
            #expect(name.count <= 80 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "\(name)")
        }
    }
}
