import Foundation
import StatesLanguage

/// Benchmarks of the engine, one per process so that peak memory is each one's own.
/// `stepgate-bench loop N | map N | validate N` prints one JSON object; scripts/bench.py runs
/// them beside the peers and prints the figures and ratios.
@main
enum Benchmarks {
    static func main() async {
        let args = CommandLine.arguments.dropFirst()
        guard let mode = args.first, let n = args.dropFirst().first.flatMap({ Int($0) }) else {
            FileHandle.standardError.write(Data("usage: stepgate-bench loop|map|validate N\n".utf8))
            exit(2)
        }
        let result: JSONObject
        switch mode {
        case "loop": result = await countingLoop(iterations: n)
        case "map": result = await map(items: n)
        case "validate": result = validate(states: n)
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
        let interpreter = Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "bench", name: "bench"),
            environment: ExecutionEnvironment(clock: VirtualClock(), recordHistory: true))
        let start = DispatchTime.now()
        let result = await interpreter.run(input: ["count": 0, "limit": .int(iterations)])
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        check(result.status == .succeeded && result.output?["count"] == .int(iterations), "loop", result)
        return JSONObject([
            ("benchmark", "loop"), ("iterations", .int(iterations)), ("transitions", .int(result.transitions)),
            ("events", .int(result.history.count)), ("seconds", .double(seconds)),
            ("transitionsPerSecond", .double(Double(result.transitions) / seconds)),
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
