import Foundation
import StatesLanguage
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

func makeTempDir(_ name: String = #function) throws -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("stepgate-durable-\(safe)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Compiles without validating (durable tests use short resource names AWS's validator refuses).
func compileUnchecked(_ text: String) throws -> StateMachine {
    try StateMachineCompiler.compile(try JSONParser.parse(text))
}

/// Counts calls per resource and per input, and can hang on chosen inputs (to stand in for a
/// process that dies in the middle of a task).
final class CountingExecutor: TaskExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var log: [String] = []
    let hangOn: Set<String>

    init(hangOn: Set<String> = []) {
        self.hangOn = hangOn
    }

    var calls: [String] { lock.withLock { log } }

    func execute(_ request: TaskRequest) async throws -> JSON {
        let label = "\(request.stateName):\(request.input.serialized)"
        lock.withLock { log.append(label) }
        if hangOn.contains(label) {
            try await Task.sleep(nanoseconds: 3_600_000_000_000)
        }
        if request.resource == "fail" { throw ExecutionError("Custom.Failure", "asked to fail") }
        return .object(JSONObject([("echo", request.input), ("state", .string(request.stateName))]))
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventually(_ seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    return try await condition()
}

/// Opens a store another process is creating: while that process runs its migrations, opening it here may
/// meet a half-made schema ("table ... already exists"), so it is tried again until it opens.
func openStoreCreatedElsewhere(_ db: String, seconds: Double = 15) async throws -> SQLiteStore {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let store = try? SQLiteStore(url: db) { return store }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    return try SQLiteStore(url: db)
}

/// The stepgate binary this package builds; missing is a test failure, not a skip.
func stepgateBinary() throws -> URL {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let url = root.appendingPathComponent(".build/debug/stepgate")
    try #require(
        FileManager.default.isExecutableFile(atPath: url.path), "\(url.path) is missing: run `swift build` first")
    return url
}

/// A child process with captured output.
final class Child: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private var outData = Data()
    private var errData = Data()
    private let lock = NSLock()

    init(_ arguments: [String]) throws {
        process.executableURL = try stepgateBinary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "STEPGATE_STORE")
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            self?.lock.withLock { self?.outData.append(d) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            self?.lock.withLock { self?.errData.append(d) }
        }
        try process.run()
    }

    var stdout: String { lock.withLock { String(decoding: outData, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: errData, as: UTF8.self) } }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
    }

    /// Waits for the exit (at most `seconds`); returns the status, or nil on timeout (the child is killed).
    func wait(_ seconds: Double = 30) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        if process.isRunning {
            kill9()
            return nil
        }
        try await Task.sleep(nanoseconds: 50_000_000)  // let the pipes drain
        return process.terminationStatus
    }

    /// Runs to completion and returns (status, stdout, stderr).
    static func run(_ arguments: [String], seconds: Double = 30) async throws -> (Int32?, String, String) {
        let c = try Child(arguments)
        let status = try await c.wait(seconds)
        return (status, c.stdout, c.stderr)
    }
}
