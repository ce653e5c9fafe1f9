import Foundation
import Git
import Testing

/// A failure of the fixture machinery itself (not of the code under test).
struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body` with a fresh temporary directory that is removed afterwards, whatever happens.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let base = FileManager.default.temporaryDirectory.path
    let path = "\(base)/stepgate-git-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// The async flavour of ``withTemporaryDirectory(_:)``.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    let base = FileManager.default.temporaryDirectory.path
    let path = "\(base)/stepgate-git-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// An environment for git processes that ignores the user's and the system's configuration.
func gitEnvironment(home: String) -> [String: String] {
    var environment: [String: String] = [:]
    environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    environment["HOME"] = home
    environment["GIT_CONFIG_NOSYSTEM"] = "1"
    environment["GIT_AUTHOR_DATE"] = "1700000000 +0100"
    environment["GIT_COMMITTER_DATE"] = "1700000000 +0100"
    environment["LC_ALL"] = "C"
    return environment
}

/// Configures a `git` process; the caller runs it.
func gitProcess(_ arguments: [String], in directory: String, home: String, stdin: String? = nil) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments =
        ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"] + arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = gitEnvironment(home: home)
    if let stdin { process.standardInput = FileHandle(forReadingAtPath: stdin) }
    return process
}

/// Runs git and returns its standard output without the trailing newline.
@discardableResult
func runGit(_ arguments: [String], in directory: String, home: String, stdin: String? = nil) throws -> String {
    let process = gitProcess(arguments, in: directory, home: home, stdin: stdin)
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Our commands write little to stderr (well under a pipe buffer), so reading the two pipes
    // one after the other cannot block.
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let message = String(decoding: errorData, as: UTF8.self)
        throw FixtureError(description: "git \(arguments.joined(separator: " ")) failed: \(message)")
    }
    var text = String(decoding: data, as: UTF8.self)
    while text.hasSuffix("\n") { text.removeLast() }
    return text
}

/// A repository built with the git CLI inside a temporary directory.
struct Fixture {
    /// The temporary directory (also HOME for git, so no user configuration leaks in).
    let root: String
    /// The repository (its work tree, or the bare repository).
    let path: String

    /// Creates a repository at `root/name`.
    static func create(in root: String, name: String = "repo", bare: Bool = false) throws -> Fixture {
        let path = "\(root)/\(name)"
        try runGit(["init", "-q"] + (bare ? ["--bare"] : []) + [path], in: root, home: root)
        return Fixture(root: root, path: path)
    }

    @discardableResult
    func git(_ arguments: String...) throws -> String {
        try runGit(arguments, in: path, home: root)
    }

    func write(_ relativePath: String, _ contents: String, executable: Bool = false) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
    }

    /// Stages everything and commits; returns the new commit's ID.
    @discardableResult
    func commit(_ message: String, files: [String: String] = [:]) throws -> ObjectID {
        for (file, contents) in files { try write(file, contents) }
        try git("add", "-A")
        try git("commit", "-q", "--allow-empty", "-m", message)
        return try head()
    }

    func head() throws -> ObjectID {
        try id(git("rev-parse", "HEAD"))
    }

    func id(_ hex: String) throws -> ObjectID {
        try #require(ObjectID(hex: hex))
    }
}
