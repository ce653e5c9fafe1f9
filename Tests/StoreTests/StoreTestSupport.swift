import Foundation
import Testing

/// A fresh directory under the system temp dir, removed by the caller's `defer`.
func makeTempDir(_ name: String = #function) throws -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("stepgate-store-tests-\(safe)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs SQL on a database file with the sqlite3 command-line shell (outside the store, as an
/// attacker or a careless admin would).
@discardableResult
func rawSQL(_ path: String, _ sql: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sqlite3", "-bail", path, sql]
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw RawSQLError(message: "sqlite3 failed (\(p.terminationStatus)): \(String(decoding: errData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

struct RawSQLError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
