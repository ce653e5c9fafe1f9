import StatesLanguage
import Foundation
import Git

/// `stepgate:command`: runs argv (no shell unless the workflow writes one) in a fresh checkout
/// or a configured directory, with an environment built from scratch.
///
/// Parameters: `command` (non-empty array of strings, required), `env` (object of strings),
/// `stdin` (string), `workingDirectory` (relative directory inside the workspace).
///
/// The result is stdout parsed as JSON when it is JSON, else `{"stdout": ..., "exitCode": 0}`
/// (with `"stdoutTruncated": true` when stdout exceeded the cap). A JSON object result may hold
/// `findings`: each must be `{path, line, endLine?, message, severity}` with a relative path,
/// positive lines and severity error|warning|info. Invalid findings are dropped, not fatal: the
/// valid ones stay in `findings` and each dropped one is explained in `findingsDropped`, so a
/// linter's result is never lost because of one malformed entry.
struct CommandTask {
    let configuration: StepgateTaskExecutor.Configuration
    let request: TaskRequest
    let secrets: [String: String]

    static let allowedParameters: Set<String> = ["command", "env", "stdin", "workingDirectory"]

    struct Parameters {
        var command: [String]
        var env: [String: String] = [:]
        var stdin: String?
        var workingDirectory: String?
    }

    func parameters() throws(ExecutionError) -> Parameters {
        guard let object = request.input.objectValue else {
            throw .invalidParameters("stepgate:command needs Parameters as an object with \"command\"")
        }
        for key in object.keys where !Self.allowedParameters.contains(key) {
            throw .invalidParameters(
                "stepgate:command does not know the parameter \"\(key)\" (expected command, env, stdin, workingDirectory)")
        }
        guard let array = object["command"]?.arrayValue, !array.isEmpty else {
            throw .invalidParameters("\"command\" must be a non-empty array of strings (argv; write [\"sh\", \"-c\", ...] for a shell)")
        }
        var command: [String] = []
        for item in array {
            guard let s = item.stringValue else { throw .invalidParameters("\"command\" must contain only strings, found a \(item.typeName)") }
            command.append(s)
        }
        if command[0].isEmpty { throw .invalidParameters("the program name (\"command\"[0]) must not be empty") }
        var p = Parameters(command: command)
        if let env = object["env"], !env.isNull {
            guard let o = env.objectValue else { throw .invalidParameters("\"env\" must be an object of strings") }
            for (k, v) in zip(o.keys, o.values) {
                guard let s = v.stringValue else { throw .invalidParameters("\"env\".\(k) must be a string, found a \(v.typeName)") }
                if k.isEmpty || k.contains("=") || k.contains("\0") { throw .invalidParameters("\"env\" has an invalid variable name \"\(k)\"") }
                if k.hasPrefix("STEPGATE_") { throw .invalidParameters("\"env\" must not set \(k): STEPGATE_ variables are set by stepgate") }
                p.env[k] = s
            }
        }
        if let stdin = object["stdin"], !stdin.isNull {
            guard let s = stdin.stringValue else { throw .invalidParameters("\"stdin\" must be a string") }
            p.stdin = s
        }
        if let wd = object["workingDirectory"], !wd.isNull {
            guard let s = wd.stringValue else { throw .invalidParameters("\"workingDirectory\" must be a string") }
            if s.hasPrefix("/") || s.split(separator: "/").contains("..") {
                throw .invalidParameters("\"workingDirectory\" must be a relative path inside the checkout, without '..'")
            }
            p.workingDirectory = s
        }
        return p
    }

    func run() async throws -> JSON {
        let p = try parameters()
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let home = scratch + "/home"
        _ = mkdir(home, 0o700)

        let root: String
        switch configuration.workspace {
        case .directory(let dir):
            root = dir
        case .checkout(let repositoryPath, let commit):
            root = scratch + "/src"
            do {
                guard let id = ObjectID(hex: commit) else { throw ExecutionError.taskFailed("invalid commit id \(commit)") }
                // Inside pre-receive the pushed objects are still in git's quarantine directory,
                // which only an open from the hook's environment sees.
                let environment = ProcessInfo.processInfo.environment
                let repository =
                    environment["GIT_QUARANTINE_PATH"] != nil
                    ? try Repository.openFromHookEnvironment(environment: environment)
                    : try Repository(path: repositoryPath)
                try repository.materialize(commit: id, into: root)
            } catch let e as ExecutionError {
                throw e
            } catch {
                throw ExecutionError("stepgate.CheckoutFailed", "cannot check out \(commit) of \(repositoryPath): \(error)")
            }
        }
        let workingDirectory = try resolveWorkingDirectory(root: root, relative: p.workingDirectory)

        var environment: [String: String] = ["PATH": configuration.path, "HOME": home, "LANG": "C.UTF-8", "PWD": workingDirectory]
        for (k, v) in secrets { environment[k] = v }
        for (k, v) in p.env { environment[k] = v }
        environment["STEPGATE_EXECUTION_ID"] = request.executionID
        environment["STEPGATE_STATE"] = request.stateName
        var hidden = configuration.grants.allSecretValues
        if let issuer = configuration.identity {
            do {
                let token = try issuer.token(context: configuration.context, state: request.stateName, executionID: request.executionID)
                environment["STEPGATE_ID_TOKEN"] = token
                hidden.append(token)
            } catch {
                throw ExecutionError("stepgate.IdentityUnavailable", "cannot mint the task's identity token: \(error)")
            }
        }
        let redactor = Redactor(secrets: hidden)
        let executable = try resolveExecutable(p.command[0], path: environment["PATH"] ?? "", workingDirectory: workingDirectory)
        // Read past the cap far enough to see whole a secret that starts before it, even with its
        // lines broken; redaction then cuts at the cap (see result(of:redactor:)).
        let lookahead = redactor.isEmpty ? 0 : 2 * redactor.longestPatternLength + 256
        var spec = ProcessSpec(
            executable: executable, arguments: p.command, environment: environment, workingDirectory: workingDirectory,
            stdin: p.stdin.map { Array($0.utf8) }, timeout: request.timeoutSeconds.map(Double.init),
            heartbeat: request.heartbeatSeconds.map(Double.init), outputLimit: configuration.outputLimit + lookahead,
            killGrace: configuration.killGrace)
        if configuration.sandbox.mode == .bubblewrap {
            spec = try sandboxed(spec, scratch: scratch, root: root)
        }
        let outcome: ProcessOutcome
        do {
            outcome = try await ProcessRunner.run(spec)
        } catch let e as SpawnFailure {
            throw redactor.redact(ExecutionError("stepgate.CommandFailed", e.description))
        }
        if outcome.sandboxSetupFailed {
            let complaint = Sandbox.bubblewrapComplaint(outcome.stderr, bwrap: spec.executable)
            if complaint.contains("bwrap: execvp ") {
                // The sandbox was made; the program (or its interpreter) is not in it.
                let line = String(decoding: outcome.stderr, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("bwrap: execvp ") } ?? ""
                throw redactor.redact(
                    ExecutionError(
                        "stepgate.CommandFailed",
                        "cannot run \(p.command[0]) in the task's sandbox: \(line.dropFirst("bwrap: ".count))"
                            + " (a program or interpreter outside /usr and the checkout needs the role's read-only-paths)"))
            }
            throw redactor.redact(SandboxUnavailable(complaint).executionError)
        }
        do {
            return redactor.redact(try result(of: outcome, redactor: redactor))
        } catch let e as ExecutionError {
            throw redactor.redact(e)
        }
    }

    /// What the task's role may reach from its sandbox.
    var roleAccess: RoleAccess {
        if case .role(let name) = RolePolicy.roleRequest(request.credentials) {
            return configuration.grants.access[name] ?? .isolated
        }
        return .isolated
    }

    /// `spec` run by bwrap in the task's sandbox (``SandboxLayout``): the scratch directory (home,
    /// checkout) and a `stepgate run` directory writable, the role's read-only paths, its network
    /// only when the role has it, every protected path and secret file covered.
    func sandboxed(_ spec: ProcessSpec, scratch: String, root: String) throws(ExecutionError) -> ProcessSpec {
        let sandbox = configuration.sandbox
        let bwrap: String
        switch sandbox.locateBubblewrap() {
        case .success(let path): bwrap = path
        case .failure(let why): throw why.executionError
        }
        var writable = [scratch]
        if case .directory = configuration.workspace, let real = SandboxLayout.realPath(root) { writable.append(real) }
        if writable.contains("/") {
            throw SandboxUnavailable("the directory / cannot be given to a task", hint: false).executionError
        }
        let access = roleAccess
        let layout = SandboxLayout(
            writable: writable, readOnly: access.readOnlyPaths, network: access.network, workingDirectory: spec.workingDirectory,
            protected: sandbox.protectedPaths + configuration.grants.secretFiles)
        guard layout.exposes(spec.executable) else {
            throw ExecutionError(
                "stepgate.CommandFailed",
                "cannot run \(spec.arguments[0]): \(spec.executable) lies outside the task's sandbox (the system's /usr, the checkout, "
                    + "the role's read-only-paths)")
        }
        let options: [String]
        do { options = try layout.arguments() } catch { throw error.executionError }
        var wrapped = spec
        wrapped.executable = bwrap
        wrapped.arguments = [bwrap] + options + ["--", spec.executable] + spec.arguments.dropFirst()
        wrapped.workingDirectory = "/"
        wrapped.sandboxed = true
        return wrapped
    }

    func result(of outcome: ProcessOutcome, redactor: Redactor) throws -> JSON {
        let limit = configuration.outputLimit
        switch outcome.stop {
        case .timeout:
            throw ExecutionError.timeout(
                "command timed out after \(request.timeoutSeconds ?? 0) seconds; \(Self.killed(configuration.sandbox))")
        case .heartbeat:
            throw ExecutionError.heartbeatTimeout(
                "command wrote nothing for \(request.heartbeatSeconds ?? 0) seconds; \(Self.killed(configuration.sandbox))")
        case .cancelled:
            throw CancellationError()
        case .none:
            break
        }
        let stderr = redactor.redact(outcome.stderr, keepingFirst: limit).text
        switch outcome.termination {
        case .signaled(let s):
            throw ExecutionError("stepgate.CommandFailed", "killed by signal \(s)\(Self.stderrTail(stderr))")
        case .exited(let code) where code != 0:
            throw ExecutionError("stepgate.CommandFailed", "exit status \(code)\(Self.stderrTail(stderr))")
        case .exited:
            break
        }
        let (text, cut) = redactor.redact(outcome.stdout, keepingFirst: limit)
        let truncated = cut || outcome.stdoutTruncated
        if !truncated, !text.allSatisfy(\.isWhitespace), let json = try? JSONParser.parse(text) {
            return Findings.validate(json)
        }
        var o = JSONObject()
        o["stdout"] = .string(text)
        o["exitCode"] = 0
        if truncated { o["stdoutTruncated"] = true }
        return .object(o)
    }

    /// How a timed-out command was ended.
    static func killed(_ sandbox: Sandbox) -> String {
        sandbox.mode == .bubblewrap ? "its sandbox was killed with every process in it" : "its process group was killed"
    }

    /// "; last lines of stderr: ..." (at most 20 lines, 2000 characters), or a note that it was
    /// empty. `text` is already redacted, so cutting it cannot leave part of a secret.
    static func stderrTail(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        if lines.isEmpty { return "; stderr was empty" }
        var tail = lines.suffix(20).joined(separator: "\n")
        if tail.count > 2000 { tail = "..." + String(tail.suffix(2000)) }
        return "; last lines of stderr: " + tail
    }

    func makeScratchDirectory() throws(ExecutionError) -> String {
        var template = Array((configuration.temporaryDirectory + "/stepgate-task-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            mkdtemp(buffer.baseAddress!).map { String(cString: UnsafePointer($0)) }
        }
        guard let made else { throw ExecutionError.taskFailed("cannot create a temporary directory in \(configuration.temporaryDirectory)") }
        // mkdtemp makes it 0700; the real path, because a sandbox mounts it at the same place.
        return SandboxLayout.realPath(made) ?? made
    }

    func resolveWorkingDirectory(root: String, relative: String?) throws(ExecutionError) -> String {
        guard let rootReal = realpath(root, nil) else {
            throw ExecutionError.taskFailed("the workspace \(root) does not exist")
        }
        let rootPath = String(cString: rootReal)
        free(rootReal)
        guard let relative, !relative.isEmpty, relative != "." else { return rootPath }
        guard let real = realpath(rootPath + "/" + relative, nil) else {
            throw ExecutionError.invalidParameters("\"workingDirectory\" \(relative) does not exist in the workspace")
        }
        let path = String(cString: real)
        free(real)
        guard path == rootPath || path.hasPrefix(rootPath + "/") else {
            throw ExecutionError.invalidParameters("\"workingDirectory\" \(relative) leads outside the workspace")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ExecutionError.invalidParameters("\"workingDirectory\" \(relative) is not a directory")
        }
        return path
    }

    func resolveExecutable(_ name: String, path: String, workingDirectory: String) throws(ExecutionError) -> String {
        func runnable(_ candidate: String) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) && !isDirectory.boolValue
                && access(candidate, X_OK) == 0
        }
        if name.contains("/") {
            let candidate = name.hasPrefix("/") ? name : workingDirectory + "/" + name
            guard runnable(candidate) else { throw ExecutionError("stepgate.CommandFailed", "cannot run \(name): not an executable file") }
            return candidate
        }
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let base = dir.hasPrefix("/") ? String(dir) : workingDirectory + "/" + dir
            if runnable(base + "/" + name) { return base + "/" + name }
        }
        throw ExecutionError("stepgate.CommandFailed", "command not found: \(name) (PATH=\(path))")
    }
}

/// Checks the `findings` of a command's JSON result (see ``CommandTask``).
enum Findings {
    static let severities: Set<String> = ["error", "warning", "info"]

    static func validate(_ result: JSON) -> JSON {
        guard var object = result.objectValue, let findings = object["findings"] else { return result }
        var kept: [JSON] = []
        var dropped: [JSON] = []
        guard let list = findings.arrayValue else {
            object["findings"] = .array([])
            object["findingsDropped"] = .array([.string("findings must be an array, found a \(findings.typeName)")])
            return .object(object)
        }
        for (i, f) in list.enumerated() {
            if let problem = problem(f) {
                dropped.append(.string("findings[\(i)]: \(problem)"))
            } else {
                kept.append(f)
            }
        }
        object["findings"] = .array(kept)
        if !dropped.isEmpty { object["findingsDropped"] = .array(dropped) }
        return .object(object)
    }

    static func problem(_ f: JSON) -> String? {
        guard let o = f.objectValue else { return "a finding must be an object" }
        guard let path = o["path"]?.stringValue, !path.isEmpty else { return "path must be a non-empty string" }
        if path.hasPrefix("/") || path.split(separator: "/").contains("..") { return "path must be relative to the repository, without '..'" }
        guard let lineValue = o["line"], lineValue.isNumber, let line = lineValue.intValue, line >= 1 else {
            return "line must be a positive integer"
        }
        if let end = o["endLine"], !end.isNull {
            guard end.isNumber, let e = end.intValue, e >= line else { return "endLine must be an integer no less than line" }
        }
        guard let message = o["message"]?.stringValue, !message.isEmpty else { return "message must be a non-empty string" }
        guard let severity = o["severity"]?.stringValue, severities.contains(severity) else {
            return "severity must be error, warning or info"
        }
        return nil
    }
}
