import Foundation
import StatesLanguage
import Testing

/// A repository with a `.stepgate/` directory, removed when the test ends.
final class ScratchRepository {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-local-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".stepgate/workflows"), withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: root) }

    @discardableResult
    func write(_ path: String, _ text: String) throws -> String {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

@Suite struct LocalRunCLITests {
    static let hello = #"""
        {"StartAt": "Hello", "States": {
          "Hello": {"Type": "Task", "Resource": "${HelloFunctionArn}",
                    "Parameters": {"FunctionName": "hello", "Payload": {"name.$": "$.name"}},
                    "ResultSelector": {"greeting.$": "$.Payload.greeting"}, "Next": "Notify"},
          "Notify": {"Type": "Task", "Resource": "arn:${AWS::Partition}:states:::sns:publish",
                     "Parameters": {"Message.$": "$.greeting", "TopicArn": "${TopicArn}"}, "ResultPath": "$.sns", "End": true}}}
        """#

    static let config = #"""
        version: 1
        workflows:
          hello:
            definition: workflows/hello.asl.json
            substitutions: {HelloFunctionArn: "arn:aws:states:::lambda:invoke"}
            resources:
              "arn:aws:states:::lambda:invoke": {command: [python3, tools/hello.py]}
              "arn:aws:states:::sns:publish": {return: {MessageId: m-1}}
        """#

    static let helloScript = #"""
        import json, sys
        event = json.load(sys.stdin)
        print(json.dumps({"greeting": "hello " + event["name"]}))
        """#

    @Test func validateTakesTheWorkflowsSubstitutionsAndTheCommandLines() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(".stepgate/workflows/hello.asl.json", Self.hello)
        let bare = try stepgate(["validate", file])
        #expect(bare.status == 1)
        #expect(bare.stdout.contains("hello.asl.json:2:41: error: state \"Hello\": Resource \"${HelloFunctionArn}\" holds the placeholder ${HelloFunctionArn}, which has no value"))
        #expect(bare.stdout.split(separator: "\n").count == 1)
        let given = try stepgate(["validate", file, "--substitute", "HelloFunctionArn=arn:aws:lambda:us-east-1:123456789012:function:h"])
        #expect(given.status == 0, "\(given.stdout)")
        try repo.write(".stepgate/stepgate.yaml", Self.config)
        let configured = try stepgate(["validate", file])
        #expect(configured.status == 0, "\(configured.stdout)")
        let overridden = try stepgate(["validate", file, "--substitute", "HelloFunctionArn=nope"])
        #expect(overridden.status == 1)
        #expect(overridden.stdout.contains("Resource \"nope\" is not a valid resource ARN"))
        let values = try repo.write("values.yaml", "HelloFunctionArn: 'arn:aws:states:::sns:publish'\n")
        #expect(try stepgate(["validate", file, "--substitutions", values]).status == 0)
    }

    @Test func badSubstitutionInputIsOneLine() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(".stepgate/workflows/hello.asl.json", Self.hello)
        let bad = try stepgate(["validate", file, "--substitute", "no-equals-sign"])
        #expect(bad.status == 2)
        #expect(bad.stderr == "stepgate: error: --substitute no-equals-sign: write KEY=VALUE, KEY without whitespace, '$', '{', '}' or quotes\n")
        let values = try repo.write("values.yaml", "A: [1]\n")
        let badFile = try stepgate(["validate", file, "--substitutions", values])
        #expect(badFile.status == 2)
        #expect(badFile.stderr == "stepgate: error: \(values):1:4: the value of 'A' must be a string, a number or a boolean, found array\n")
    }

    @Test func runServesAWSResourcesFromTheResourceMap() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(".stepgate/workflows/hello.asl.json", Self.hello)
        try repo.write(".stepgate/stepgate.yaml", Self.config)
        try repo.write("tools/hello.py", Self.helloScript)
        let r = try stepgate(["run", "--definition", file, "--input", #"{"name": "ann"}"#, "--format", "json"], in: repo.root.path)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(try JSONParser.parse(r.stdout) == ["status": "SUCCEEDED", "output": ["greeting": "hello ann", "sns": ["MessageId": "m-1"]]])
        #expect(r.stderr.isEmpty)
    }

    @Test func anUnmappedAWSResourceFailsNamingIt() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(
            ".stepgate/workflows/q.asl.json",
            #"{"StartAt": "Q", "States": {"Q": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true}}}"#)
        let r = try stepgate(["run", "--definition", file, "--format", "json"])
        #expect(r.status == 1)
        let out = try JSONParser.parse(r.stdout)
        #expect(out["error"] == "States.Runtime")
        #expect(out["cause"]?.stringValue?.contains("\"arn:aws:states:::sqs:sendMessage\" does not run locally") == true)
    }

    static let mockFile = #"""
        {"StateMachines": {"hello": {"TestCases": {
            "Happy": {"Hello": "HelloOK", "Notify": "Published"},
            "Retried": {"Hello": "HelloFlaky", "Notify": "Published"}}}},
         "MockedResponses": {
            "HelloOK": {"0": {"Return": {"StatusCode": 200, "Payload": {"greeting": "mocked"}}}},
            "HelloFlaky": {"0-1": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "busy"}}},
            "Published": {"0": {"Return": {"MessageId": "m-9"}}}}}
        """#

    @Test func runUsesAMockConfigFileTestCase() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(".stepgate/workflows/hello.asl.json", Self.hello)
        let mocks = try repo.write("MockConfigFile.json", Self.mockFile)
        let happy = try stepgate([
            "run", "--definition", file, "--substitute", "HelloFunctionArn=arn:aws:states:::lambda:invoke", "--mock", mocks,
            "--test-case", "Happy", "--format", "json", "--input", #"{"name": "ann"}"#,
        ])
        #expect(try JSONParser.parse(happy.stdout) == ["status": "SUCCEEDED", "output": ["greeting": "mocked", "sns": ["MessageId": "m-9"]]])
        let retried = try stepgate([
            "run", "--definition", file, "--substitute", "HelloFunctionArn=arn:aws:states:::lambda:invoke", "--mock", mocks,
            "--test-case", "Retried", "--format", "json", "--input", #"{"name": "ann"}"#,
        ])
        #expect(try JSONParser.parse(retried.stdout) == ["status": "FAILED", "error": "Lambda.ServiceException", "cause": "busy"])
        let unknown = try stepgate([
            "run", "--definition", file, "--substitute", "HelloFunctionArn=arn:aws:states:::lambda:invoke", "--mock", mocks, "--test-case", "Nope",
        ])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == ("stepgate: error: \(mocks): state machine 'hello' has no test case 'Nope' (it has Happy, Retried)\n"))
        let lonely = try stepgate(["run", "--definition", file, "--mock", mocks])
        #expect(lonely.status == 64)
        #expect(lonely.stderr.contains("--mock needs --test-case"))
    }

    @Test func aDistributedMapReadsAndWritesTheConfiguredBuckets() throws {
        let repo = try ScratchRepository()
        try repo.write("data/items.csv", "id,name\n1,ann\n2,\"bob, jr\"\n3,cy\n")
        let file = try repo.write(
            ".stepgate/workflows/fan.asl.json",
            #"""
            {"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true,
              "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                             "Parameters": {"Bucket": "input-data", "Key": "items.csv"}},
              "ItemBatcher": {"MaxItemsPerBatch": 2},
              "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "results", "Prefix": "out"}},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Count", "States": {"Count": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": true}}}}}}
            """#)
        try repo.write(
            ".stepgate/stepgate.yaml",
            "version: 1\nworkflows:\n  fan:\n    definition: workflows/fan.asl.json\n    buckets: {input-data: data, results: build/results}\n")
        let r = try stepgate(["run", "--definition", file, "--format", "json"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let out = try JSONParser.parse(r.stdout)
        let key = try #require(out["output"]?["ResultWriterDetails"]?["Key"]?.stringValue)
        let manifest = try JSONParser.parse(try String(contentsOfFile: repo.path("build/results/" + key), encoding: .utf8))
        let succeeded = try #require(manifest["ResultFiles"]?["SUCCEEDED"]?.arrayValue?.first?["Key"]?.stringValue)
        let records = try JSONParser.parse(try String(contentsOfFile: repo.path("build/results/" + succeeded), encoding: .utf8))
        #expect(records.arrayValue?.compactMap { $0["Output"]?.stringValue } == [#"{"n":2}"#, #"{"n":1}"#])
        // Without the bucket mapped, the reader says which bucket is missing.
        try repo.write(".stepgate/stepgate.yaml", "version: 1\nworkflows:\n  fan:\n    definition: workflows/fan.asl.json\n")
        let missing = try stepgate(["run", "--definition", file, "--format", "json"])
        let failed = try JSONParser.parse(missing.stdout)
        #expect(failed["error"] == "States.ItemReaderFailed")
        #expect(failed["cause"]?.stringValue?.contains("the bucket 'input-data' has no local directory") == true)
        let flagged = try stepgate(["run", "--definition", file, "--format", "json", "--bucket", "input-data=\(repo.path("data"))", "--bucket", "results=\(repo.path("out2"))"])
        #expect(flagged.status == 0, "\(flagged.stdout)")
    }

    @Test func testStateRunsOneStateWithItsInspectionData() throws {
        let repo = try ScratchRepository()
        let file = try repo.write(".stepgate/workflows/hello.asl.json", Self.hello)
        try repo.write(".stepgate/stepgate.yaml", Self.config)
        let r = try stepgate(
            ["test-state", "--definition", file, "--state", "Notify", "--input", #"{"greeting": "hi"}"#, "--inspection-level", "DEBUG"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try JSONParser.parse(r.stdout)
        #expect(out["status"] == "SUCCEEDED")
        #expect(out["output"] == ["greeting": "hi", "sns": ["MessageId": "m-1"]])
        #expect(out["inspectionData"]?["afterParameters"] == ["Message": "hi", "TopicArn": "${TopicArn}"])
        #expect(out["inspectionData"]?["afterResultPath"] == ["greeting": "hi", "sns": ["MessageId": "m-1"]])
        let missing = try stepgate(["test-state", "--definition", file, "--state", "Nope"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "stepgate: error: \(file): no state named \"Nope\"\n")
        let text = try stepgate(["test-state", "--definition", file, "--state", "Notify", "--input", "{}", "--format", "text"])
        #expect(text.status == 1)
        #expect(text.stdout.hasPrefix("status: FAILED\nerror: States.Runtime\n"))
    }
}
