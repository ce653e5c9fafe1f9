@testable import AWS
import Foundation
import Runtime
import StatesLanguage
import Testing

/// The definition AWS is given, the AWS execution name of a run, and the `engine`/`aws` settings; no server needed.
struct ActivityDefinitionTests {
    static let command = "arn:aws:states:us-east-1:123456789012:activity:stepgate-command"
    static let http = "arn:aws:states:us-east-1:123456789012:activity:stepgate-http"
    static let activities = ["stepgate:command": command, "stepgate:http": http]

    static func rewritten(_ text: String) throws -> JSON {
        try ActivityDefinition.rewrite(try JSONParser.parse(text), activities: activities)
    }

    @Test func aCommandTaskBecomesAnActivityTaskWithItsRoleAndParametersInTheEnvelope() throws {
        let out = try Self.rewritten("""
            {"StartAt": "Lint", "States": {"Lint": {"Type": "Task", "Resource": "stepgate:command",
              "Parameters": {"command": ["make", "lint"], "env": {"MODE.$": "$.mode"}},
              "Credentials": {"RoleArn": "ci-readonly"}, "TimeoutSeconds": 600, "ResultPath": "$.lint", "Next": "Notify"},
             "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {"Message.$": "$.lint.stdout"},
              "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/notify"}, "End": true}}}
            """)
        let lint = try #require(out["States"]?["Lint"])
        #expect(lint["Resource"]?.stringValue == Self.command)
        #expect(lint["Credentials"] == nil, "AWS reserves Credentials for IAM roles")
        #expect(lint["TimeoutSeconds"]?.intValue == 600 && lint["HeartbeatSeconds"]?.intValue == 60)
        #expect(lint["ResultPath"]?.stringValue == "$.lint" && lint["Next"]?.stringValue == "Notify")
        let envelope = try #require(lint["Parameters"]?["stepgate"])
        #expect(envelope["resource"]?.stringValue == "stepgate:command" && envelope["state"]?.stringValue == "Lint")
        #expect(envelope["execution.$"]?.stringValue == "$$.Execution.Name")
        #expect(envelope["role"]?.stringValue == "ci-readonly" && envelope["timeoutSeconds"]?.intValue == 600)
        #expect(lint["Parameters"]?["parameters"] == (try JSONParser.parse(#"{"command": ["make", "lint"], "env": {"MODE.$": "$.mode"}}"#)))
        // AWS's own resources pass through untouched, their Credentials included.
        let notify = try #require(out["States"]?["Notify"])
        #expect(notify == (try JSONParser.parse("""
            {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {"Message.$": "$.lint.stdout"},
             "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/notify"}, "End": true}
            """)))
    }

    @Test func nestedStatesJSONataAndTasksWithoutParametersAreRewrittenToo() throws {
        let out = try Self.rewritten("""
            {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
              {"StartAt": "Get", "States": {"Get": {"Type": "Task", "Resource": "stepgate:http", "HeartbeatSeconds": 5, "End": true}}},
              {"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Run", "States": {
                "Run": {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "stepgate:command", "TimeoutSeconds": 30,
                        "Arguments": {"command": "{% ['echo', $states.input] %}"}, "End": true}}}}}}]}}}
            """)
        let get = try #require(out["States"]?["Both"]?["Branches"]?.arrayValue?.first?["States"]?["Get"])
        #expect(get["Resource"]?.stringValue == Self.http && get["HeartbeatSeconds"]?.intValue == 5)
        #expect(get["Parameters"]?["parameters.$"]?.stringValue == "$", "the task's whole input, as without Parameters")
        #expect(get["Parameters"]?["stepgate"]?["heartbeatSeconds"]?.intValue == 5)
        let run = try #require(
            out["States"]?["Both"]?["Branches"]?.arrayValue?.last?["States"]?["Each"]?["ItemProcessor"]?["States"]?["Run"])
        #expect(run["Resource"]?.stringValue == Self.command && run["Parameters"] == nil)
        #expect(run["HeartbeatSeconds"] == nil, "a 30 s timeout is shorter than the default heartbeat")
        #expect(run["Arguments"]?["stepgate"]?["execution"]?.stringValue == "{% $states.context.Execution.Name %}")
        #expect(run["Arguments"]?["parameters"]?["command"]?.stringValue == "{% ['echo', $states.input] %}")
        #expect(ActivityDefinition.resources(in: try JSONParser.parse(#"{"States": {"A": {"Type": "Task", "Resource": "stepgate:http"}}}"#)) == ["stepgate:http"])
    }

    @Test func aStepgateResourceWithoutAnActivityIsRefusedInOneLine() throws {
        do {
            _ = try Self.rewritten("""
                {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "stepgate:approval", "TimeoutSeconds": 60, "End": true}}}
                """)
            Issue.record("stepgate:approval was sent to AWS")
        } catch let error as ActivityDefinitionError {
            #expect(error.message.hasPrefix("state \"Ask\" uses stepgate:approval, which the AWS engine does not serve"), "\(error)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func theExecutionNameComesFromTheDedupeKeySoARestartFindsTheSameExecution() {
        let key = "gerrit|review|demo~1|1|check"
        let first = StepFunctionsEngine.executionName(id: "9f0c…-one", dedupeKey: key)
        #expect(first == StepFunctionsEngine.executionName(id: "another-id", dedupeKey: key))
        #expect(first == StepFunctionsNames.idempotent(key))
        #expect(first != StepFunctionsEngine.executionName(id: "x", dedupeKey: "gerrit|review|demo~1|2|check"))
        let withoutKey = StepFunctionsEngine.executionName(id: "0b5e2d9c-push", dedupeKey: nil)
        #expect(withoutKey == StepFunctionsEngine.executionName(id: "0b5e2d9c-push", dedupeKey: nil) && withoutKey != first)
        #expect(first.count <= 80 && StepFunctionsEngine.executionKey(first) == "aws-execution:\(first)")
    }

    @Test func engineSettingsPerRepositoryAndWorkflowAndTheAWSSectionAreReadWithLocatedErrors() throws {
        let text = """
            {"engine": "local",
             "aws": {"region": "eu-west-1", "role-arn": "arn:aws:iam::1:role/x", "endpoint": "http://127.0.0.1:5000", "poll-interval": "250ms"},
             "repositories": {"demo": {"path": "/srv/demo.git", "engine": "aws"},
                              "tools": {"path": "/srv/tools.git", "engine": {"default": "local", "workflows": {"deploy": "aws"}}}}}
            """
        let (engines, aws) = try EngineSelection.withAWS(try JSONParser.parseDocument(text, fileName: "bot.yaml"))
        #expect(engines.engine(repository: "demo", workflow: "check") == .aws)
        #expect(engines.engine(repository: "tools", workflow: "deploy") == .aws)
        #expect(engines.engine(repository: "tools", workflow: "lint") == .local)
        #expect(engines.engine(repository: "other", workflow: "deploy") == .local)
        #expect(aws?.region == "eu-west-1" && aws?.endpoint?.absoluteString == "http://127.0.0.1:5000/" && aws?.pollInterval == .milliseconds(250))

        let bad = #"{"engine": "lambda", "repositories": {"demo": {"engine": {"workflows": {"x": 3}}}}, "aws": {"region": "r", "nope": 1}}"#
        let document = try JSONParser.parseDocument(bad, fileName: "bot.yaml")
        do {
            _ = try EngineSelection.withAWS(document)
            Issue.record("bad engine settings were accepted")
        } catch {
            let lines = error.diagnostics.map { $0.formatted(file: "bot.yaml") }
            #expect(lines.contains { $0.contains("an engine must be local or aws (found 'lambda')") }, "\(lines)")
            #expect(lines.contains { $0.contains("an engine must be local or aws (found 3)") }, "\(lines)")
            #expect(lines.contains { $0.contains("unknown key 'nope'") } && lines.contains { $0.contains("missing key 'role-arn'") }, "\(lines)")
            #expect(lines.allSatisfy { $0.hasPrefix("bot.yaml:1:") }, "\(lines)")
        }
        let missing = #"{"engine": "aws"}"#
        #expect(throws: PolicyError.self) { try EngineSelection.withAWS(try JSONParser.parseDocument(missing, fileName: "bot.yaml")) }
    }

    @Test func credentialsComeFromTheEnvironmentOrTheCredentialsFileAndAreNeverShown() throws {
        var settings = AWSEngineSettings(region: "us-east-1", roleArn: "arn:aws:iam::1:role/x")
        let env = try settings.credentials(environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s3cr3t-env"])
        #expect(env.accessKeyID == "AKIDENV" && !"\(env)".contains("s3cr3t"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = one\n[profile ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=s3cr3t-file\naws_session_token=tok\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        settings.credentialsFile = file
        settings.profile = "ci"
        let fromFile = try settings.credentials(environment: [:])
        #expect(fromFile == AWSCredentials(accessKeyID: "AKIDCI", secretAccessKey: "s3cr3t-file", sessionToken: "tok"))
        settings.credentialsFile = nil
        do {
            _ = try settings.credentials(environment: [:])
            Issue.record("credentials appeared from nowhere")
        } catch {
            #expect(error.description.contains("no AWS credentials") && !error.description.contains("\n"))
        }
    }
}
