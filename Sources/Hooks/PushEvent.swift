public import Config
public import Git
public import StatesLanguage
internal import Foundation
internal import YAMLLoader

/// The input an execution started by a push sees (a pre-receive gate or a post-receive push
/// workflow), before the workflow's `input` template is merged in.
public enum PushEvent {
    /// AWS's payload limit; a larger gate input would fail in the engine.
    static let payloadLimit = 262_144

    static func commitJSON(_ commit: CommitInfo, files: [String], compact: Bool) -> JSON {
        func person(_ s: Signature) -> JSON {
            .object(JSONObject([("name", .string(s.name)), ("email", .string(s.email))]))
        }
        var o = JSONObject()
        o["id"] = .string(commit.id.description)
        o["author"] = person(commit.author)
        o["committer"] = person(commit.committer)
        o["message"] = .string(compact ? commit.summary : commit.message)
        if !compact { o["files"] = .array(files.map(JSON.string)) }
        return .object(o)
    }

    /// `{"trigger", "ref", "old", "new", "pusher", "repository", "commits": [...]}` merged with
    /// the template (whose members win).
    ///
    /// When the full commit list would exceed the 256 KiB payload limit, messages are cut to
    /// their summaries and file lists dropped (`"commitsCompacted": true`); nil when even that
    /// is too large.
    public static func input(
        trigger: String, update: RefUpdate, pusher: String?, repository: String,
        commits: [(commit: CommitInfo, files: [String])], template: JSONObject?
    ) -> JSON? {
        for compact in [false, true] {
            var o = JSONObject()
            o["trigger"] = .string(trigger)
            o["ref"] = .string(update.ref)
            o["old"] = .string(update.old.description)
            o["new"] = .string(update.new.description)
            o["pusher"] = pusher.map(JSON.string) ?? .null
            o["repository"] = .string(repository)
            o["commits"] = .array(commits.map { commitJSON($0.commit, files: $0.files, compact: compact) })
            if compact { o["commitsCompacted"] = .bool(true) }
            for (key, value) in template?.pairs ?? JSONObject().pairs { o[key] = value }
            let value = JSON.object(o)
            if value.serialized.utf8.count <= payloadLimit { return value }
        }
        return nil
    }

    /// The repository's name for inputs: its directory name without `.git`.
    public static func repositoryName(_ repository: Repository) -> String {
        var name = repository.path
        while name.hasSuffix("/") { name.removeLast() }
        name = String(name.split(separator: "/").last ?? Substring(name))
        if name == ".git" {
            let parent = repository.path.split(separator: "/").dropLast().last.map(String.init)
            return parent ?? name
        }
        if name.hasSuffix(".git") { name.removeLast(4) }
        return name
    }
}

/// How a gate execution under a time limit ended.
public enum GateOutcome: Sendable {
    case finished(ExecutionResult)
    /// The time budget ran out first; the execution was cancelled.
    case outOfTime
}

/// Runs executions on the system clock under a deadline.
public enum DeadlineRunner {
    /// Runs `machine` with `input`, racing it against `seconds` in a task group; the loser is
    /// cancelled (the interpreter stops at its next transition or sleep).
    public static func run(
        machine: StateMachine, input: JSON, identity: ExecutionIdentity, tasks: any TaskExecutor, seconds: Double
    ) async -> GateOutcome {
        let interpreter = Interpreter(
            machine: machine, identity: identity,
            environment: ExecutionEnvironment(clock: SystemClock(), tasks: tasks, recordHistory: false))
        return await withTaskGroup(of: GateOutcome?.self) { group in
            group.addTask { .finished(await interpreter.run(input: input)) }
            group.addTask {
                do { try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000)) } catch { return nil }
                return .outOfTime
            }
            var outcome: GateOutcome = .outOfTime
            if let first = await group.next(), let value = first { outcome = value }
            group.cancelAll()
            return outcome
        }
    }
}

/// Loads a workflow definition from a commit: parsed, validated and compiled.
enum DefinitionLoader {
    enum Failure: Error {
        case missing
        case invalid([Diagnostic])
        case git(GitError)
    }

    static func load(_ path: String, repository: Repository, commit: ObjectID) -> Result<StateMachine, Failure> {
        let bytes: [UInt8]?
        do { bytes = try repository.blob(at: path, commit: commit) } catch { return .failure(.git(error)) }
        guard let bytes else { return .failure(.missing) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(.invalid([Diagnostic(.error, "the file is not UTF-8 text", at: [], location: SourceLocation(line: 1, column: 1))]))
        }
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDefinition(text, fileName: path)
        } catch {
            return .failure(.invalid([error.diagnostic]))
        }
        switch StateMachineCompiler.load(document) {
        case .success(let machine): return .success(machine)
        case .failure(let list): return .failure(.invalid(list.diagnostics))
        }
    }

    /// The repository configuration at a commit; `.success(nil)` when there is none.
    static func config(repository: Repository, commit: ObjectID) -> Result<RepositoryConfig?, Failure> {
        let bytes: [UInt8]?
        do { bytes = try repository.blob(at: RepositoryConfigLoader.path, commit: commit) } catch { return .failure(.git(error)) }
        guard let bytes else { return .success(nil) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(.invalid([Diagnostic(.error, "the file is not UTF-8 text", at: [], location: SourceLocation(line: 1, column: 1))]))
        }
        let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: RepositoryConfigLoader.path)
        guard let config else { return .failure(.invalid(diagnostics.filter { $0.severity == .error })) }
        return .success(config)
    }
}

extension DefinitionLoader.Failure {
    /// One line describing why `path` could not be used.
    func describe(_ path: String) -> String {
        switch self {
        case .missing: return "\(path) does not exist"
        case .git(let error): return "cannot read \(path): \(error.description)"
        case .invalid(let diagnostics):
            guard let first = diagnostics.first else { return "\(path) is invalid" }
            let more = diagnostics.count > 1 ? " (and \(diagnostics.count - 1) more)" : ""
            return first.formatted(file: path) + more
        }
    }
}
