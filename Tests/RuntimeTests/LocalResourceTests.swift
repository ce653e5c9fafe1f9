import Config
import Foundation
import Runtime
import StatesLanguage
import Testing

/// AWS resources run locally through the resource map and mocked responses; S3 buckets as
/// directories.
@Suite struct LocalResourceTests {
    static func map(_ yaml: [(String, ResourceTarget)]) -> ResourceMap {
        ResourceMap(yaml.map { ResourceMap.Entry(pattern: $0.0, target: $0.1) })
    }

    static func always(_ value: JSON) -> ResourceTarget {
        .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: .returns(value))]))
    }

    @Test func mappedResourcesAnswerAndUnmappedOnesStopTheExecution() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let executor = LocalResourceExecutor(
            resources: Self.map([("arn:aws:states:::sns:publish", Self.always(["MessageId": "m-1"]))]),
            inner: commandExecutor(directory: dir))
        let published = try await runTask(executor, resource: "arn:aws:states:::sns:publish", parameters: ["Message": "hi"])
        #expect(published.output == ["MessageId": "m-1"])
        let unmapped = try await runTask(executor, resource: "arn:aws:states:::sqs:sendMessage", parameters: ["MessageBody": "x"])
        #expect(unmapped.status == .failed)
        #expect(unmapped.error == "States.Runtime")
        #expect(unmapped.cause?.hasPrefix("An error occurred while executing the state 'T' (entered at the event id #2). The resource \"arn:aws:states:::sqs:sendMessage\" does not run locally") == true, "\(unmapped.cause ?? "")")
        // stepgate's own resources still run.
        let own = try await runTask(executor, parameters: ["command": ["echo", "own"]])
        #expect(own.output == ["stdout": "own\n", "exitCode": 0])
    }

    @Test func aCommandServesTheLambdaIntegrationAsAWSShapesIt() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = #"import json, sys; e = json.load(sys.stdin); print(json.dumps({"hello": e["name"]}))"#
        let executor = LocalResourceExecutor(
            resources: Self.map([
                ("arn:aws:states:::lambda:invoke", .command(argv: ["python3", "-c", script], env: [:])),
                ("arn:aws:lambda:*:*:function:*", .command(argv: ["python3", "-c", script], env: [:])),
            ]),
            inner: commandExecutor(directory: dir))
        let invoke = try await runTask(
            executor, resource: "arn:aws:states:::lambda:invoke", parameters: ["FunctionName": "f", "Payload": ["name": "ann"]])
        #expect(invoke.output == ["ExecutedVersion": "$LATEST", "Payload": ["hello": "ann"], "StatusCode": 200])
        let direct = try await runTask(
            executor, resource: "arn:aws:lambda:us-east-1:123456789012:function:greet", parameters: ["name": "bob"])
        #expect(direct.output == ["hello": "bob"])
    }

    @Test func theLambdaIntegrationIsMappedByFunctionFirst() async throws {
        let executor = LocalResourceExecutor(
            resources: Self.map([
                ("arn:aws:states:::lambda:invoke", Self.always("any function")),
                ("*:function:audit*", Self.always("the audit function")),
            ]),
            inner: NoTaskExecutor())
        let audit = try await runTask(
            executor, resource: "arn:aws:states:::lambda:invoke",
            parameters: ["FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:audit-log", "Payload": [:]])
        #expect(audit.output == "the audit function")
        let other = try await runTask(executor, resource: "arn:aws:states:::lambda:invoke", parameters: ["FunctionName": "billing"])
        #expect(other.output == "any function")
    }

    @Test func mockedResponsesFollowTheirInvocationRangesAcrossRetries() async throws {
        let lambda = MockedResponse([
            .init(first: 0, last: 1, outcome: .throwing(error: "Lambda.TooManyRequestsException", cause: "slow down")),
            .init(first: 2, last: 2, outcome: .returns(["StatusCode": 200, "Payload": "done"])),
        ])
        let executor = LocalResourceExecutor(resources: ResourceMap(), mocks: ["Call": lambda], inner: NoTaskExecutor())
        let definition = #"""
            {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "f"}, "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 3}],
              "End": true}}}
            """#
        let machine = try compile(definition)
        let run = await Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "e", name: "e"),
            environment: ExecutionEnvironment(clock: VirtualClock(), tasks: executor)
        ).run(input: [:])
        #expect(run.status == .succeeded)
        #expect(run.output == ["StatusCode": 200, "Payload": "done"])
        // A fourth call has no entry: the execution stops and says so.
        let again = try await runTask(executor, resource: "arn:aws:states:::lambda:invoke", parameters: [:], stateName: "Call")
        #expect(again.error == "States.Runtime")
        #expect(again.cause?.contains("has no entry for call 3") == true)
    }

    @Test func thrownMocksAreCatchable() async throws {
        let executor = LocalResourceExecutor(
            resources: Self.map([("arn:aws:states:::aws-sdk:s3:*", .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: .throwing(error: "S3.NoSuchKey", cause: "gone"))])))]),
            inner: NoTaskExecutor())
        let r = try await runTask(executor, resource: "arn:aws:states:::aws-sdk:s3:getObject", parameters: ["Key": "k"])
        #expect(r.error == "S3.NoSuchKey")
        #expect(r.cause == "gone")
    }

    @Test func aCallbackTaskSeesItsToken() async throws {
        let executor = LocalResourceExecutor(
            resources: Self.map([("arn:aws:states:::sqs:sendMessage.waitForTaskToken", Self.always(["approved": true]))]),
            inner: NoTaskExecutor())
        let definition = #"""
            {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
              "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}}, "End": true}}}
            """#
        let seen = TokenCapture()
        let capture = CapturingExecutor(inner: executor, capture: seen)
        let run = await Interpreter(
            machine: try compile(definition), identity: ExecutionIdentity(executionID: "exec-7", name: "e"),
            environment: ExecutionEnvironment(clock: VirtualClock(), tasks: capture)
        ).run(input: [:])
        #expect(run.output == ["approved": true])
        #expect(seen.token?.hasPrefix("exec-7") == true)
    }

    // MARK: Buckets as directories

    @Test func bucketsAreDirectoriesAndKeysStayInside() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LocalObjectStore(buckets: ["data": dir])
        try await store.putObject(bucket: "data", key: "a/b.json", bytes: Array("[1]".utf8))
        try await store.putObject(bucket: "data", key: "a/c.json", bytes: Array("[2, 3]".utf8))
        #expect(try await store.getObject(bucket: "data", key: "a/b.json") == Array("[1]".utf8))
        let listed = try await store.listObjects(bucket: "data", prefix: "a/")
        #expect(listed.map(\.key) == ["a/b.json", "a/c.json"])
        #expect(listed.map(\.size) == [3, 6])
        #expect(listed[0].etag.hasPrefix("\"") && listed[0].etag.count == 34)
        await #expect(throws: (any Error).self) { try await store.getObject(bucket: "data", key: "../outside") }
        await #expect(throws: (any Error).self) { try await store.getObject(bucket: "data", key: "/etc/passwd") }
        do {
            _ = try await store.getObject(bucket: "other", key: "x")
            Issue.record("an unknown bucket was read")
        } catch {
            #expect("\(error)".contains("the bucket 'other' has no local directory"))
        }
    }
}

final class TokenCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    var token: String? { lock.withLock { value } }
    func set(_ t: String?) { lock.withLock { value = t } }
}

/// Records the task token a request carries before handing it on.
struct CapturingExecutor: TaskExecutor {
    let inner: any TaskExecutor
    let capture: TokenCapture

    func execute(_ request: TaskRequest) async throws -> JSON {
        capture.set(request.input["MessageBody"]?["token"]?.stringValue)
        return try await inner.execute(request)
    }
}
