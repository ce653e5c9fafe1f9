import Foundation
import StatesLanguage
import Testing

/// The built `stepgate` binary, next to the test bundle's build products.
let stepgateBinary: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".build/debug/stepgate")

struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
}

func stepgate(_ arguments: [String], stdin: String? = nil, in directory: String? = nil) throws -> Run {
    guard FileManager.default.isExecutableFile(atPath: stepgateBinary.path) else {
        throw CLITestError("stepgate is not built at \(stepgateBinary.path); run `swift build` first")
    }
    let p = Process()
    p.executableURL = stepgateBinary
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A temporary directory removed when the test ends.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite struct ValidateCommandTests {
    @Test func aValidDefinitionExitsZero() throws {
        let dir = try Scratch()
        let file = try dir.write("ok.asl.json", #"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#)
        let r = try stepgate(["validate", file])
        #expect(r.status == 0)
        #expect(r.stdout == "\(file): valid\n")
    }

    @Test func problemsAreReportedAtTheirLineAndColumn() throws {
        let dir = try Scratch()
        let file = try dir.write(
            "bad.asl.json",
            """
            {
              "StartAt": "A",
              "States": {
                "A": {"Type": "Pass", "Next": "Nowhere"},
                "B": {"Type": "Succeed", "Resources": "x"}
              }
            }
            """)
        let r = try stepgate(["validate", file])
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("\(file):4:") && $0.contains("Nowhere") })
        #expect(lines.contains { $0.hasPrefix("\(file):5:30: error:") && $0.contains("Resources") })
        #expect(lines.allSatisfy { $0.hasPrefix("\(file):") && $0.contains(": error: ") })
    }

    @Test func yamlDefinitionsKeepTheirPositions() throws {
        let dir = try Scratch()
        let file = try dir.write(
            "bad.asl.yaml",
            """
            StartAt: A
            States:
              A:
                Type: Wait
                Seconds: 5
                SecondsPath: $.x
                End: true
            """)
        let r = try stepgate(["validate", file, "--format", "json"])
        #expect(r.status == 1)
        let report = try JSONParser.parse(r.stdout)
        #expect(report["valid"] == false)
        let diagnostics = report["files"]?.arrayValue?.first?["diagnostics"]?.arrayValue ?? []
        #expect(!diagnostics.isEmpty)
        #expect(diagnostics.allSatisfy { ($0["line"]?.intValue ?? 0) >= 3 })
    }

    @Test(arguments: [
        ("missing.asl.json", "no such definition file"),
        ("broken.asl.json", ":1:13: error: unexpected ','"),
    ])
    func unreadableOrMalformedFilesGiveOneLine(name: String, expected: String) throws {
        let dir = try Scratch()
        var path = dir.url.appendingPathComponent(name).path
        if name.hasPrefix("broken") { path = try dir.write(name, #"{"StartAt": ,}"#) }
        let r = try stepgate(["validate", path])
        #expect(r.status == 1)
        #expect(r.stdout.split(separator: "\n").count == 1)
        #expect(r.stdout.contains(expected))
        #expect(!r.stderr.contains("Backtrace") && !r.stderr.contains("Fatal"))
    }
}

@Suite struct RunCommandTests {
    static let loop = #"""
        {"StartAt": "Inc", "States": {
          "Inc": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "More?"},
          "More?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Inc"}], "Default": "Done"},
          "Done": {"Type": "Succeed"}}}
        """#

    @Test func jsonOutputIsExactlyOneObject() throws {
        let dir = try Scratch()
        let file = try dir.write("loop.asl.json", Self.loop)
        let r = try stepgate(["run", "--definition", file, "--input", #"{"n": 0}"#, "--format", "json"])
        #expect(r.status == 0)
        #expect(r.stdout.split(separator: "\n").count == 1)
        #expect(try JSONParser.parse(r.stdout) == ["status": "SUCCEEDED", "output": ["n": 3]])
    }

    @Test func aFailedExecutionReportsErrorAndCause() throws {
        let dir = try Scratch()
        let file = try dir.write(
            "fail.asl.json", #"{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Policy.No", "Cause": "because"}}}"#)
        let r = try stepgate(["run", "--definition", file, "--format", "json"])
        #expect(r.status == 1)
        #expect(try JSONParser.parse(r.stdout) == ["status": "FAILED", "error": "Policy.No", "cause": "because"])
    }

    @Test func textOutputShowsTheHistory() throws {
        let dir = try Scratch()
        let file = try dir.write("loop.asl.json", Self.loop)
        let input = try dir.write("input.json", #"{"n": 1}"#)
        let r = try stepgate(["run", "--definition", file, "--input-file", input])
        #expect(r.status == 0)
        #expect(r.stdout.contains("SUCCEEDED"))
        #expect(r.stdout.contains("▶ Inc (Pass)"))
        #expect(r.stdout.contains("output: {\"n\":3}"))
    }

    @Test func inputThatIsNotJSONIsOneClearLine() throws {
        let dir = try Scratch()
        let file = try dir.write("loop.asl.json", Self.loop)
        let r = try stepgate(["run", "--definition", file, "--input", "{n: 1}", "--format", "json"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "stepgate: error: --input:1:2: the input is not valid JSON: expected a string key, found 'n'\n")
    }

    @Test func anInvalidDefinitionIsRejectedBeforeRunning() throws {
        let dir = try Scratch()
        let file = try dir.write("bad.asl.json", #"{"StartAt": "X", "States": {"A": {"Type": "Succeed"}}}"#)
        let r = try stepgate(["run", "--definition", file, "--format", "json"])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("\(file):1:"))
    }

    @Test func bothInputOptionsAreRefused() throws {
        let r = try stepgate(["run", "--definition", "x.json", "--input", "{}", "--input-file", "y.json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("not both"))
    }
}

@Suite struct SandboxCommandLineTests {
    static let whoami = #"""
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "stepgate:command",
          "Parameters": {"command": ["sh", "-c", "cat policy.yaml >/dev/null 2>&1 && echo policy-readable || echo policy-hidden"]}, "End": true}}}
        """#

    @Test func tasksRunSandboxedUnlessTheOperatorSaysNone() throws {
        let dir = try Scratch()
        let file = try dir.write("t.asl.json", Self.whoami)
        let policy = try dir.write("policy.yaml", "roles: {}\n")
        // The policy file lies in the task's directory, and stays covered.
        let p = Process()
        p.executableURL = stepgateBinary
        p.arguments = ["run", "--definition", file, "--policy", policy, "--format", "json"]
        p.currentDirectoryURL = dir.url
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(try JSONParser.parse(String(decoding: data, as: UTF8.self))["output"]?["stdout"] == "policy-hidden\n")

        let none = try stepgate(["run", "--definition", file, "--sandbox", "none", "--format", "json"])
        #expect(none.status == 0)
        #expect(none.stderr == "stepgate: warning: command tasks ran without a sandbox (sandbox: none): they could read and change everything the server's user can\n")
        let fromPolicy = try dir.write("none.yaml", "sandbox: none\nroles: {}\n")
        #expect(try stepgate(["run", "--definition", file, "--policy", fromPolicy, "--format", "json"]).stderr.contains("without a sandbox"))
    }

    @Test func aBadSandboxSettingIsOneLine() throws {
        let dir = try Scratch()
        let file = try dir.write("t.asl.json", Self.whoami)
        let flag = try stepgate(["run", "--definition", file, "--sandbox", "off"])
        #expect(flag.status != 0 && flag.stderr.contains("--sandbox must be bubblewrap or none (found 'off')"))
        let policy = try dir.write("bad.yaml", "roles: {}\nsandbox: off\n")
        let r = try stepgate(["run", "--definition", file, "--policy", policy])
        #expect(r.status == 2)
        #expect(r.stderr == "\(policy):2:10: error: 'sandbox' must be bubblewrap or none (found 'off')\n")
    }
}

@Suite struct AuditCommandLineTests {
    @Test func anExpectedHeadMustBeInTheLog() throws {
        let dir = try Scratch()
        let store = dir.url.appendingPathComponent("s.db").path
        let empty = try stepgate(["audit", "verify", "--store", store])
        #expect(empty.status == 0 && empty.stdout.hasPrefix("audit log intact: 0 entries"))
        let missing = try stepgate(["audit", "verify", "--store", store, "--expect-head", String(repeating: "ab", count: 32)])
        #expect(missing.status == 1)
        #expect(missing.stdout.hasPrefix("audit log: seq 1: head-mismatch: no entry has the expected head abab"), "\(missing.stdout)")
        let bad = try stepgate(["audit", "verify", "--store", store, "--expect-head", "xyz"])
        #expect(bad.status != 0 && bad.stderr.contains("--expect-head must be a head hash: 64 hex digits (found 'xyz')"))
    }
}
