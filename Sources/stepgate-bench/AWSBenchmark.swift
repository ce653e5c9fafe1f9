import AWS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Runtime
import StatesLanguage
import Store

/// `stepgate-bench aws N`: execution start latency on the AWS engine against the Step Functions endpoint in
/// `STEPGATE_TEST_AWS_ENDPOINT` (moto, through scripts/with-test-servers.sh), through the front door as the bot runs
/// a workflow. Figures, in milliseconds:
/// - `firstRun`: the first run of a revision: activity, state machine, version and alias created, the execution
///   started, followed to its end and recorded;
/// - `startExecution`: `StartExecution` alone on the revision's alias (median of N);
/// - `passRun`: a later run of the same revision, one Pass state, start to recorded end (median of N);
enum AWSBenchmark {
    static func run(times: Int) async -> JSONObject {
        guard let endpoint = ProcessInfo.processInfo.environment["STEPGATE_TEST_AWS_ENDPOINT"], let url = URL(string: endpoint + "/") else {
            fail("aws: STEPGATE_TEST_AWS_ENDPOINT is not set (make bench runs this through scripts/with-test-servers.sh)")
        }
        await configureMoto(endpoint)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-bench-aws-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store: SQLiteStore
        do { store = try SQLiteStore(url: "sqlite://" + directory.appendingPathComponent("bench.db").path) } catch {
            fail("aws: \(error)")
        }
        var settings = AWSEngineSettings(region: "us-east-1", roleArn: "arn:aws:iam::123456789012:role/stepgate-bench", endpoint: url)
        settings.namePrefix = "bench\(UUID().uuidString.prefix(6).lowercased())"
        settings.pollInterval = .milliseconds(50)
        settings.workers = 1
        let engine: StepFunctionsEngine
        do { engine = try StepFunctionsEngine(settings: settings, environment: ["AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"]) } catch {
            fail("aws: \(error)")
        }
        var runSettings = WorkflowRuns.Settings()
        runSettings.engines = EngineSelection(top: .init(defaultEngine: .aws))
        runSettings.remote = engine
        runSettings.sandbox = Sandbox(mode: .none)
        let runs = WorkflowRuns(store: store, settings: runSettings)

        let pass = #"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": true}, "End": true}}}"#
        func once(_ text: String, workflow: String) async -> Double {
            let request = RunRequest(
                kind: .manual, repository: nil, trusted: .none(), definition: .file(path: "\(workflow).asl.json", text: text),
                checkout: .directory(directory.path), input: ["bench": true], repositoryName: "bench")
            let began = DispatchTime.now()
            let outcome: RunOutcome
            do { outcome = try await runs.start(request) } catch { fail("aws: \(error)") }
            if outcome.result.status != .succeeded {
                fail("aws: \(workflow) ended \(outcome.result.status.rawValue): \(outcome.result.error ?? "") \(outcome.result.cause ?? "")")
            }
            return Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e6
        }
        func median(_ samples: [Double]) -> Double { samples.sorted()[samples.count / 2] }

        let first = await once(pass, workflow: "pass")
        var passRuns: [Double] = []
        for _ in 0..<times { passRuns.append(await once(pass, workflow: "pass")) }

        // A stepgate:command task served to the execution as an activity by this process.
        let command = #"{"StartAt": "C", "States": {"C": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["true"]}, "TimeoutSeconds": 30, "End": true}}}"#
        _ = await once(command, workflow: "command")
        var commandRuns: [Double] = []
        for _ in 0..<times { commandRuns.append(await once(command, workflow: "command")) }

        // StartExecution alone on the alias the runs above used.
        var starts: [Double] = []
        do {
            let machine = try await engine.client.stateMachineArn(named: StepFunctionsNames.idempotent("\(settings.namePrefix)|bench|pass"))
            guard let machine else { fail("aws: the pass state machine is missing") }
            let version = try await engine.client.updateStateMachine(
                arn: machine, definition: pass, roleArn: settings.roleArn, versionDescription: "bench")
            let alias = try await engine.client.setAlias(name: "bench", stateMachineArn: machine, versionArn: version ?? "")
            for i in 0..<times {
                let began = DispatchTime.now()
                _ = try await engine.client.startExecution(stateMachineArn: alias, name: "bench-\(i)-\(UUID().uuidString.prefix(8))", input: "{}")
                starts.append(Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e6)
            }
        } catch {
            fail("aws: \(error)")
        }
        return JSONObject([
            ("benchmark", "aws"), ("times", .int(times)), ("firstRunMilliseconds", .double(first)),
            ("startExecutionMilliseconds", .double(median(starts))), ("passRunMilliseconds", .double(median(passRuns))),
            ("commandRunMilliseconds", .double(median(commandRuns))),
        ])
    }

    /// Has moto execute the state machines it is given (AWS does so anyway).
    static func configureMoto(_ endpoint: String) async {
        var request = HTTPClientRequest(url: endpoint + "/moto-api/config")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"stepfunctions": {"execute_state_machine": true}}"#))
        _ = try? await HTTPClient.shared.execute(request, timeout: .seconds(10))
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(1)
    }
}
