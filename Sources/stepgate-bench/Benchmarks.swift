import Foundation
import Runtime
import StatesLanguage
import Store

/// Benchmarks of the engine, one per process so that peak memory is each one's own.
/// `stepgate-bench loop N | map N | validate N` prints one JSON object; scripts/bench.py runs
/// them beside the peers and prints the figures and ratios.
@main
enum Benchmarks {
    static func main() async {
        let args = CommandLine.arguments.dropFirst()
        guard let mode = args.first, let n = args.dropFirst().first.flatMap({ Int($0) }) else {
            FileHandle.standardError.write(Data("usage: stepgate-bench loop|map|validate|durable|spawn|aws N, command N [bubblewrap|none]\n".utf8))
            exit(2)
        }
        let result: JSONObject
        switch mode {
        case "loop": result = await countingLoop(iterations: n)
        case "map": result = await map(items: n)
        case "validate": result = validate(states: n)
        case "durable": result = await durable(executions: n)
        case "spawn": result = spawn(times: n)
        case "aws": result = await AWSBenchmark.run(times: n)
        case "command":
            let sandbox = args.dropFirst(2).first.flatMap(Sandbox.Mode.init(rawValue:)) ?? .bubblewrap
            result = await command(times: n, sandbox: Sandbox(mode: sandbox))
        default:
            FileHandle.standardError.write(Data("unknown benchmark \(mode)\n".utf8))
            exit(2)
        }
        var out = result
        out["peakRSSMB"] = .double((Double(peakRSSKB()) / 1024 * 10).rounded() / 10)
        print(JSON.object(out).serialized)
    }

    /// (a) Pass with States.MathAdd, then a Choice back, `iterations` times; history recorded.
    static func countingLoop(iterations: Int) async -> JSONObject {
        let definition: JSON = [
            "StartAt": "Increment",
            "States": [
                "Increment": [
                    "Type": "Pass", "Parameters": ["count.$": "States.MathAdd($.count, 1)", "limit.$": "$.limit"],
                    "Next": "Loop?",
                ],
                "Loop?": [
                    "Type": "Choice",
                    "Choices": [["Variable": "$.count", "NumericLessThanPath": "$.limit", "Next": "Increment"]],
                    "Default": "Done",
                ],
                "Done": ["Type": "Succeed"],
            ],
        ]
        let machine = try! StateMachineCompiler.compile(definition)
        // Five runs, each with its own history; the median is reported, with the range.
        var rates: [Double] = []
        var last: (result: ExecutionResult, seconds: Double)?
        for _ in 0..<5 {
            let interpreter = Interpreter(
                machine: machine, identity: ExecutionIdentity(executionID: "bench", name: "bench"),
                environment: ExecutionEnvironment(clock: VirtualClock(), recordHistory: true))
            let start = DispatchTime.now()
            let result = await interpreter.run(input: ["count": 0, "limit": .int(iterations)])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            check(result.status == .succeeded && result.output?["count"] == .int(iterations), "loop", result)
            rates.append(Double(result.transitions) / seconds)
            last = (result, seconds)
        }
        rates.sort()
        let result = last!.result
        return JSONObject([
            ("benchmark", "loop"), ("iterations", .int(iterations)), ("transitions", .int(result.transitions)),
            ("events", .int(result.history.count)), ("seconds", .double(Double(result.transitions) / rates[2])),
            ("transitionsPerSecond", .double(rates[2])), ("slowest", .double(rates[0])), ("fastest", .double(rates[4])),
        ])
    }

    /// (b) A Map over `items` items, MaxConcurrency 0, each item through a Choice and a Pass.
    static func map(items: Int) async -> JSONObject {
        let definition: JSON = [
            "StartAt": "Each",
            "States": [
                "Each": [
                    "Type": "Map", "MaxConcurrency": 0, "ItemsPath": "$.items",
                    "ItemProcessor": [
                        "StartAt": "Even?",
                        "States": [
                            "Even?": [
                                "Type": "Choice",
                                "Choices": [["Variable": "$", "NumericGreaterThanEquals": 5000, "Next": "Mark"]],
                                "Default": "Mark",
                            ],
                            "Mark": ["Type": "Pass", "Parameters": ["n.$": "$"], "End": true],
                        ],
                    ],
                    "End": true,
                ]
            ],
        ]
        let machine = try! StateMachineCompiler.compile(definition)
        // Plain numbers keep the input and the output under AWS's 256 KiB payload limit.
        let input: JSON = ["items": .array((0..<items).map { .int($0) })]
        let interpreter = Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "bench", name: "bench"),
            environment: ExecutionEnvironment(clock: VirtualClock(), recordHistory: true))
        let start = DispatchTime.now()
        let result = await interpreter.run(input: input)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        check(result.status == .succeeded && result.output?.arrayValue?.count == items, "map", result)
        return JSONObject([
            ("benchmark", "map"), ("items", .int(items)), ("transitions", .int(result.transitions)),
            ("events", .int(result.history.count)), ("seconds", .double(seconds)),
        ])
    }

    /// (c) Parsing and validating a definition of `states` states (text in, diagnostics out).
    static func validate(states: Int) -> JSONObject {
        var text = "{\n  \"Comment\": \"generated\",\n  \"StartAt\": \"S0\",\n  \"States\": {\n"
        for i in 0..<states {
            let next = i + 1 < states ? "\"Next\": \"S\(i + 1)\"" : "\"End\": true"
            switch i % 4 {
            case 0:
                text += "    \"S\(i)\": {\"Type\": \"Pass\", \"Parameters\": {\"v.$\": \"States.Format('{}', $.x)\"}, \"ResultPath\": \"$.r\(i)\", \(next)}"
            case 1:
                let after = i + 1 < states ? "S\(i + 1)" : "S0"
                text += "    \"S\(i)\": {\"Type\": \"Choice\", \"Choices\": [{\"Variable\": \"$.x\", \"NumericGreaterThan\": \(i), \"Next\": \"\(after)\"}], \"Default\": \"\(after)\"}"
            case 2:
                text += "    \"S\(i)\": {\"Type\": \"Task\", \"Resource\": \"stepgate:command\", \"Parameters\": {\"command\": [\"true\"]}, \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"], \"MaxAttempts\": 2}], \(next)}"
            default:
                text += "    \"S\(i)\": {\"Type\": \"Wait\", \"Seconds\": 1, \(next)}"
            }
            text += i + 1 < states ? ",\n" : "\n"
        }
        text += "  }\n}\n"
        var times: [Double] = []
        var diagnostics = 0
        for _ in 0..<15 {
            let start = DispatchTime.now()
            let document = try! JSONParser.parseDocument(text, fileName: "bench.asl.json")
            diagnostics = DefinitionValidator.validate(document).count
            _ = try? StateMachineCompiler.compile(document.value)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
        }
        times.sort()
        return JSONObject([
            ("benchmark", "validate"), ("states", .int(states)), ("bytes", .int(text.utf8.count)),
            ("diagnostics", .int(diagnostics)), ("medianMilliseconds", .double(times[times.count / 2])),
        ])
    }

    /// Issue 4: `executions` durable executions of a 5-state workflow whose one Task is
    /// `stepgate:command` running `true`, every transition persisted to a SQLite file.
    static func durable(executions: Int) async -> JSONObject {
        let text = #"""
            {"StartAt": "Prepare", "States": {
              "Prepare": {"Type": "Pass", "Parameters": {"run.$": "$.run"}, "Next": "Check"},
              "Check": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["true"]},
                        "ResultPath": "$.check", "TimeoutSeconds": 30, "Next": "Decide"},
              "Decide": {"Type": "Choice", "Choices": [{"Variable": "$.check.exitCode", "NumericEquals": 0, "Next": "Record"}],
                         "Default": "Broken"},
              "Record": {"Type": "Pass", "Result": "ok", "ResultPath": "$.verdict", "Next": "Done"},
              "Broken": {"Type": "Fail", "Error": "Bench.Broken"},
              "Done": {"Type": "Succeed"}}}
            """#
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-bench-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store: SQLiteStore
        do { store = try SQLiteStore(url: "sqlite://" + directory.appendingPathComponent("bench.db").path) } catch {
            FileHandle.standardError.write(Data("durable: \(error)\n".utf8))
            exit(1)
        }
        let machine = try! StateMachineCompiler.compile(try! JSONParser.parse(text))
        let durable = DurableExecutions(store: store)
        // The engine and the store alone: the sandbox has a benchmark of its own (`command`).
        var configuration = StepgateTaskExecutor.Configuration(
            workspace: .directory(directory.path), context: TriggerContext(kind: .manual, repository: "bench"))
        configuration.sandbox = .none
        let tasks = StepgateTaskExecutor(configuration: configuration)
        let start = DispatchTime.now()
        var transitions = 0
        for i in 0..<executions {
            let result: ExecutionResult
            do {
                result = try await durable.start(
                    definitionText: text, machine: machine, workflow: "bench", input: ["run": .int(i)], tasks: tasks)
            } catch {
                FileHandle.standardError.write(Data("durable: \(error)\n".utf8))
                exit(1)
            }
            check(result.status == .succeeded, "durable", result)
            transitions += result.transitions
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let databaseBytes = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("bench.db").path)[.size] as? Int) ?? 0
        return JSONObject([
            ("benchmark", "durable"), ("executions", .int(executions)), ("transitions", .int(transitions)),
            ("seconds", .double(seconds)), ("executionsPerSecond", .double(Double(executions) / seconds)),
            ("millisecondsPerExecution", .double(seconds * 1000 / Double(executions))),
            ("databaseBytes", .int(databaseBytes)),
        ])
    }

    /// One `stepgate:command` task running `true`, `times` times, without an execution or a store,
    /// in `sandbox`.
    static func command(times: Int, sandbox: Sandbox) async -> JSONObject {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-bench-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StepgateTaskExecutor.Configuration(
            workspace: .directory(directory), context: TriggerContext(kind: .manual, repository: "bench"))
        configuration.sandbox = sandbox
        let tasks = StepgateTaskExecutor(configuration: configuration)
        let request = TaskRequest(
            resource: "stepgate:command", input: ["command": ["true"]], credentials: nil, timeoutSeconds: 30,
            heartbeatSeconds: nil, stateName: "Check", executionID: "bench", key: "/Check#0", attempt: 0, context: .null)
        do { _ = try await tasks.execute(request) } catch {
            FileHandle.standardError.write(Data("command (\(sandbox.mode.rawValue)): \(error)\n".utf8))
            exit(1)
        }
        // The median of single runs: the machine is shared, and a few slow starts say little.
        var samples: [Double] = []
        let start = DispatchTime.now()
        for _ in 0..<times {
            let one = DispatchTime.now()
            _ = try? await tasks.execute(request)
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - one.uptimeNanoseconds) / 1e6)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        samples.sort()
        return JSONObject([
            ("benchmark", "command"), ("sandbox", .string(sandbox.mode.rawValue)), ("times", .int(times)), ("seconds", .double(seconds)),
            ("millisecondsPerTask", .double(seconds * 1000 / Double(times))), ("medianMilliseconds", .double(samples[samples.count / 2])),
            ("fastestMilliseconds", .double(samples[0])),
        ])
    }

    /// The peer of `durable`: a bare posix_spawn + wait of `true`, `times` times.
    static func spawn(times: Int) -> JSONObject {
        let path = ["/usr/bin/true", "/bin/true"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/bin/true"
        let start = DispatchTime.now()
        for _ in 0..<times {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
            defer { for a in argv { free(a) } }
            guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { exit(1) }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return JSONObject([
            ("benchmark", "spawn"), ("times", .int(times)), ("seconds", .double(seconds)),
            ("millisecondsPerSpawn", .double(seconds * 1000 / Double(times))),
        ])
    }

    static func check(_ ok: Bool, _ name: String, _ result: ExecutionResult) {
        guard !ok else { return }
        FileHandle.standardError.write(Data("\(name): unexpected result \(result.json.serialized.prefix(300))\n".utf8))
        exit(1)
    }

    /// Peak resident set size of this process (VmHWM), in KiB.
    static func peakRSSKB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
