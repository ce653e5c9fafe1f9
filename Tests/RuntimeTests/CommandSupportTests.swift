import Foundation
import Runtime
import StatesLanguage
import Testing

// Helpers shared by the runtime tests (kept in a file named like the tests it serves).

/// Runs a one-Task state machine through the interpreter with `executor`.
func runTask(
    _ executor: any TaskExecutor, resource: String = "stepgate:command", parameters: JSON, credentials: JSON? = nil,
    timeout: Int? = nil, heartbeat: Int? = nil, stateName: String = "T", clock: any ExecutionClock = SystemClock()
) async throws -> ExecutionResult {
    var task: JSON = ["Type": "Task", "Resource": .string(resource), "Parameters": parameters, "End": true]
    if case .object(var o) = task {
        if let credentials { o["Credentials"] = credentials }
        if let timeout { o["TimeoutSeconds"] = .int(timeout) }
        if let heartbeat { o["HeartbeatSeconds"] = .int(heartbeat) }
        task = .object(o)
    }
    let definition: JSON = ["StartAt": .string(stateName), "States": .object(JSONObject([(stateName, task)]))]
    let machine = try compile(definition.serialized)
    let identity = ExecutionIdentity(executionID: "exec-1", name: "exec-1")
    return await Interpreter(machine: machine, identity: identity, environment: ExecutionEnvironment(clock: clock, tasks: executor)).run(input: [:])
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory(_ label: String = "rt") throws -> String {
    let path = FileManager.default.temporaryDirectory.path + "/stepgate-\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a program to completion, returning (status, stdout, stderr).
@discardableResult
func runProgram(_ path: String, _ arguments: [String], in directory: String? = nil, environment: [String: String]? = nil, stdin: String? = nil)
    throws -> (status: Int32, stdout: String, stderr: String)
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { p.environment = environment }
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes concurrently so that neither fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The package root, from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func commandExecutor(
    directory: String, grants: RoleGrants = .none, identity: IdentityTokenIssuer? = nil, outputLimit: Int = 1 << 20,
    sandbox: Sandbox = .bubblewrap, inner: (any TaskExecutor)? = nil
) -> any TaskExecutor {
    commandExecutor(workspace: .directory(directory), grants: grants, identity: identity, outputLimit: outputLimit, sandbox: sandbox, inner: inner)
}

func commandExecutor(
    workspace: StepgateTaskExecutor.Workspace, grants: RoleGrants = .none, identity: IdentityTokenIssuer? = nil,
    outputLimit: Int = 1 << 20, sandbox: Sandbox = .bubblewrap, inner: (any TaskExecutor)? = nil
) -> any TaskExecutor {
    var configuration = StepgateTaskExecutor.Configuration(
        workspace: workspace, grants: grants,
        context: TriggerContext(kind: .manual, repository: "demo", branch: "main", workflow: "wf"), identity: identity)
    configuration.outputLimit = outputLimit
    configuration.killGrace = 0.5
    configuration.sandbox = sandbox
    return StepgateTaskExecutor(configuration: configuration, inner: inner).redacting()
}

/// The pids of processes whose command line contains `marker` (a test's own odd sleep length).
func processes(marked marker: String) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker) && !processIsGone(pid)
    }
}

@Test func supportFindsPackageRoot() {
    #expect(FileManager.default.fileExists(atPath: packageRoot + "/Package.swift"))
}
