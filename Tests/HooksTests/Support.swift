import Foundation
import StatesLanguage
import Testing

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// The package root, from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The built `stepgate` binary (`swift build` before `swift test`). Missing is a failure.
func stepgateBinary() throws -> String {
    for candidate in [".build/debug/stepgate", ".build/release/stepgate"] {
        let path = "\(packageRoot)/\(candidate)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    Issue.record("the stepgate binary is not built: run `swift build` before `swift test`")
    throw FixtureError(description: "no stepgate binary under \(packageRoot)/.build")
}

struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
    /// stderr lines that stepgate printed (git prefixes hook output with "remote: ").
    var stepgateLines: [String] {
        stderr.split(separator: "\n").map { line -> String in
            var s = String(line)
            if s.hasPrefix("remote: ") { s.removeFirst("remote: ".count) }
            return s.trimmingCharacters(in: .whitespaces)
        }.filter { $0.hasPrefix("stepgate:") }
    }
}

/// Runs a program to completion; its output goes through temporary files (never a pipe a
/// detached grandchild could hold open).
@discardableResult
func run(_ executable: String, _ arguments: [String], in directory: String, environment: [String: String], stdin: String? = nil) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = environment
    let base = FileManager.default.temporaryDirectory.path + "/stepgate-run-" + UUID().uuidString
    let outPath = base + ".out", errPath = base + ".err", inPath = base + ".in"
    defer { for p in [outPath, errPath, inPath] { try? FileManager.default.removeItem(atPath: p) } }
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    FileManager.default.createFile(atPath: inPath, contents: Data((stdin ?? "").utf8))
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
    defer { try? out.close(); try? err.close(); try? input.close() }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    process.waitUntilExit()
    return Output(
        status: process.terminationStatus,
        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// A temporary world: HOME (no user git config), a bare server, a client clone.
final class World {
    let root: String
    let server: String
    let client: String
    let binary: String
    var extraEnvironment: [String: String] = [:]

    init(install: Bool = true, installArguments: [String] = []) throws {
        root = FileManager.default.temporaryDirectory.path + "/stepgate-hooks-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        server = root + "/server.git"
        client = root + "/client"
        binary = try stepgateBinary()
        try git(["init", "-q", "--bare", server], in: root)
        try git(["init", "-q", client], in: root)
        try git(["remote", "add", "origin", server])
        if install { try self.install(installArguments) }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var environment: [String: String] {
        var e: [String: String] = [:]
        e["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        e["HOME"] = root
        e["GIT_CONFIG_NOSYSTEM"] = "1"
        e["LC_ALL"] = "C"
        e["TMPDIR"] = root
        e["GIT_AUTHOR_NAME"] = "Alice Author"
        e["GIT_AUTHOR_EMAIL"] = "alice@example.org"
        e["GIT_COMMITTER_NAME"] = "Alice Author"
        e["GIT_COMMITTER_EMAIL"] = "alice@example.org"
        for (k, v) in extraEnvironment { e[k] = v }
        return e
    }

    @discardableResult
    func git(_ arguments: [String], in directory: String? = nil, environment extra: [String: String] = [:], allowFailure: Bool = false) throws -> Output {
        var env = environment
        for (k, v) in extra { env[k] = v }
        let output = try run("/usr/bin/git", ["-c", "init.defaultBranch=main"] + arguments, in: directory ?? client, environment: env)
        if output.status != 0 && !allowFailure {
            throw FixtureError(description: "git \(arguments.joined(separator: " ")) failed: \(output.stderr)")
        }
        return output
    }

    @discardableResult
    func stepgate(_ arguments: [String], in directory: String? = nil) throws -> Output {
        try run(binary, arguments, in: directory ?? root, environment: environment)
    }

    func install(_ arguments: [String] = []) throws {
        let out = try stepgate(["hooks", "install", server, "--binary", binary] + arguments)
        if out.status != 0 { throw FixtureError(description: "install failed: \(out.stderr)") }
    }

    func write(_ path: String, _ contents: String) throws {
        let url = URL(fileURLWithPath: client + "/" + path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
    }

    func writeFile(_ absolute: String, _ contents: String, executable: Bool = false) throws {
        try Data(contents.utf8).write(to: URL(fileURLWithPath: absolute))
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: absolute) }
    }

    @discardableResult
    func commit(_ message: String, _ files: [String: String] = [:], remove: [String] = []) throws -> String {
        for (path, contents) in files { try write(path, contents) }
        for path in remove { try git(["rm", "-q", path]) }
        try git(["add", "-A"])
        try git(["commit", "-q", "--allow-empty", "-m", message])
        return try git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func push(_ arguments: [String] = ["origin", "main"], environment: [String: String] = [:]) throws -> Output {
        try git(["push"] + arguments, environment: environment, allowFailure: true)
    }

    /// The server's value of a ref, or nil.
    func serverRef(_ ref: String) throws -> String? {
        let out = try git(["rev-parse", "--verify", "-q", ref], in: server, allowFailure: true)
        return out.status == 0 ? out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }
}

// MARK: - Definitions used by the tests

enum Defs {
    static let config = """
        version: 1
        workflows:
          commit-policy:
            definition: workflows/policy.asl.json
            on:
              pre-receive: {refs: [refs/heads/main, refs/heads/feature/*]}

        """

    /// Fails with Policy.NoWIP when the first pushed commit's message starts with WIP.
    static let policy = """
        {
          "StartAt": "HasCommit",
          "States": {
            "HasCommit": {"Type": "Choice", "Choices": [{"Variable": "$.commits[0]", "IsPresent": false, "Next": "Ok"}], "Default": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.commits[0].message", "StringMatches": "WIP*", "Next": "Deny"}], "Default": "Ok"},
            "Deny": {"Type": "Fail", "Error": "Policy.NoWIP", "Cause": "a commit says WIP"},
            "Ok": {"Type": "Succeed"}
          }
        }

        """

    static let alwaysSucceed = """
        {"StartAt": "Ok", "States": {"Ok": {"Type": "Succeed"}}}

        """

    /// Line 4, column 35 is the bad Next target.
    static let brokenNext = """
        {
          "StartAt": "A",
          "States": {
            "A": {"Type": "Pass", "Next": "Nowhere", "End": false}
          }
        }

        """

    static let deploy = """
        {"StartAt": "Build", "States": {"Build": {"Type": "Pass", "Result": {"built": true}, "End": true}}}

        """

    static func gate(_ definition: String, refs: String = "refs/heads/main") -> String {
        """
        version: 1
        workflows:
          gate:
            definition: workflows/\(definition)
            on:
              pre-receive: {refs: [\(refs)]}

        """
    }
}

extension World {
    /// The hooks' store of the server repository.
    var store: String { "sqlite://\(server)/stepgate/stepgate.db" }

    /// `stepgate executions show ID --format json` on the hooks' store.
    func execution(_ id: String) throws -> JSON? {
        let out = try run(binary, ["executions", "show", id, "--store", store, "--format", "json"], in: root, environment: environment)
        guard out.status == 0 else { return nil }
        return try? JSONParser.parse(out.stdout)
    }

    /// Waits (at most `seconds`) for an execution of the hooks' store to end; nil when it did not.
    func finishedExecution(_ id: String, seconds: Double = 15) throws -> JSON? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = try execution(id), value["status"]?.stringValue != "RUNNING" { return value }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return nil
    }
}
