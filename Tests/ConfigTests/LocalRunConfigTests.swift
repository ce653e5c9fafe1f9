import Config
import StatesLanguage
import Testing
import YAMLLoader

/// What stepgate.yaml says about running a workflow locally: substitutions, resources, buckets;
/// and AWS Step Functions Local's MockConfigFile.
@Suite struct LocalRunConfigTests {
    static func workflow(_ body: String) -> (WorkflowConfig?, [String]) {
        let text = RepositoryConfigTests.config("definition: workflows/d.asl.json\non: {push: {refs: [refs/heads/main]}}\n" + body)
        let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: "stepgate.yaml")
        return (config?.workflows.first, diagnostics.map(\.description))
    }

    @Test func substitutionsAreStrings() throws {
        let (w, problems) = Self.workflow("substitutions: {HelloFunctionArn: 'arn:aws:lambda:us-east-1:1:function:h', Timeout: 30, On: true, 'AWS::Region': eu-west-1}")
        #expect(problems.isEmpty)
        let s = try #require(w?.substitutions)
        #expect(s.values == ["HelloFunctionArn": "arn:aws:lambda:us-east-1:1:function:h", "Timeout": "30", "On": "true", "AWS::Region": "eu-west-1"])
        #expect(s.apply(to: "${AWS::Region}/${Timeout}") == "eu-west-1/30")
    }

    @Test func substitutionProblemsAreLocated() {
        let (_, problems) = Self.workflow("substitutions: {'a b': x, C: [1]}")
        #expect(problems == [
            "6:21: error: invalid placeholder key 'a b': a key has no whitespace, '$', '{', '}' or quotes, and does not start with '!'",
            "6:34: error: the value of 'C' must be a string, a number or a boolean, found array",
        ])
    }

    @Test func resourceTargets() throws {
        let (w, problems) = Self.workflow("""
            resources:
              "arn:aws:states:::lambda:invoke": {command: [python3, tools/hello.py], env: {MODE: local}}
              "arn:aws:states:::sns:publish": {http: {url: "http://127.0.0.1:9000/sns", headers: {X-A: b}}}
              "arn:aws:lambda:*:*:function:audit-*": {return: {ok: true}}
              "arn:aws:states:::aws-sdk:s3:deleteObject": {throw: {Error: S3.NoSuchKey, Cause: gone}}
              "arn:aws:states:::sqs:sendMessage": {mock: {"0": {Return: {MessageId: m1}}, "1-2": {Throw: {Error: SQS.Busy}}}}
              "arn:aws:lambda:*": {return: fallback}
            """)
        #expect(problems.isEmpty, "\(problems)")
        let map = try #require(w?.resources)
        #expect(map.target(for: "arn:aws:states:::lambda:invoke") == .command(argv: ["python3", "tools/hello.py"], env: ["MODE": "local"]))
        #expect(map.target(for: "arn:aws:states:::sns:publish") == .http(url: "http://127.0.0.1:9000/sns", method: "POST", headers: ["X-A": "b"]))
        // The first pattern that matches wins; an exact entry wins over every pattern.
        #expect(map.target(for: "arn:aws:lambda:us-east-1:123456789012:function:audit-log") == .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: .returns(["ok": true]))])))
        #expect(map.target(for: "arn:aws:lambda:us-east-1:123456789012:function:other") == .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: .returns("fallback"))])))
        #expect(map.target(for: "arn:aws:states:::sqs:sendMessage.waitForTaskToken") == nil)
        guard case .mock(let sqs)? = map.target(for: "arn:aws:states:::sqs:sendMessage") else {
            Issue.record("sqs is not mocked")
            return
        }
        #expect(sqs.outcome(forInvocation: 0) == .returns(["MessageId": "m1"]))
        #expect(sqs.outcome(forInvocation: 2) == .throwing(error: "SQS.Busy", cause: ""))
        #expect(sqs.outcome(forInvocation: 3) == nil)
    }

    @Test func resourceProblemsAreLocated() {
        let (_, problems) = Self.workflow("""
            resources:
              a: {command: [x], return: 1}
              b: {mock: {"2-1": {Return: 1}, "0": {Throw: {Cause: c}}}}
              c: {http: {url: ftp://x}}
            """)
        #expect(problems == [
            "7:10: error: a resource target needs exactly one of command, http, return, throw, mock",
            "8:18: error: invalid invocation range '2-1': write a number (\"0\") or a range (\"1-2\")",
            "8:51: error: a thrown error needs 'Error' (a string) and may give 'Cause'",
            "9:17: error: 'http' needs 'url', an http or https URL",
        ])
    }

    @Test func bucketsAreDirectoriesInsideTheRepository() throws {
        let (w, problems) = Self.workflow("buckets: {input-data: data/in, Bad: x, results: ../out}")
        #expect(problems == [
            "6:36: error: invalid bucket name 'Bad': use lowercase letters, digits, '.' and '-', 3 to 63 characters",
            "6:53: error: a directory must stay inside the repository (no '..'): '../out'",
        ])
        #expect(w == nil)
        let (ok, none) = Self.workflow("buckets: {input-data: data/in}")
        #expect(none.isEmpty)
        #expect(ok?.buckets == ["input-data": "data/in"])
    }

    // MARK: MockConfigFile

    static let mockFile = """
        {"StateMachines": {"LambdaSQSIntegration": {"TestCases": {
            "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
            "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"}}}},
         "MockedResponses": {
            "MockedLambdaSuccess": {"0": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}},
            "MockedSQSSuccess": {"0": {"Return": {"MD5OfMessageBody": "3bcb", "MessageId": "3bcb6e8e"}}},
            "MockedLambdaRetry": {
                "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "Lambda resource is not ready."}},
                "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
                "3": {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}}}}}
        """

    @Test func mockConfigFilesAsStepFunctionsLocalWritesThem() throws {
        let (configuration, problems) = MockConfiguration.load(try JSONParser.parseDocument(Self.mockFile, fileName: "MockConfigFile.json"))
        #expect(problems.isEmpty)
        let mocks = try #require(configuration)
        let retry = try mocks.testCase("RetryPath", stateMachine: nil)
        #expect(Set(retry.keys) == ["LambdaState", "SQSState"])
        let lambda = try #require(retry["LambdaState"])
        #expect(lambda.outcome(forInvocation: 0) == .throwing(error: "Lambda.ResourceNotReadyException", cause: "Lambda resource is not ready."))
        #expect(lambda.outcome(forInvocation: 2) == .throwing(error: "Lambda.TimeoutException", cause: "Lambda timed out."))
        #expect(lambda.outcome(forInvocation: 3) == .returns(["StatusCode": 200, "Payload": ["StatusCode": 200, "body": "Hello from Lambda!"]]))
        #expect(throws: MockSelectionError.self) { try mocks.testCase("Nope", stateMachine: nil) }
        #expect(throws: MockSelectionError.self) { try mocks.testCase("HappyPath", stateMachine: "Other") }
        #expect(try mocks.testCase("HappyPath", stateMachine: "LambdaSQSIntegration").count == 2)
    }

    @Test func mockConfigFileProblemsAreLocated() throws {
        let text = """
            {"StateMachines": {"M": {"TestCases": {"T": {"S": "Missing"}}}},
             "MockedResponses": {"R": {"x": {"Return": 1}}}}
            """
        let (configuration, problems) = MockConfiguration.load(try JSONParser.parseDocument(text, fileName: "m.json"))
        #expect(configuration == nil)
        #expect(problems.map(\.description) == [
            "2:28: error: invalid invocation range 'x': write a number (\"0\") or a range (\"1-2\")",
            "1:51: error: state 'S' names the mocked response \"Missing\", which MockedResponses does not have",
        ])
    }
}
