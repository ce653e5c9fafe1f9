public import StatesLanguage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How command tasks are kept apart from the server that runs them.
///
/// With ``Mode/bubblewrap`` (the default) every `stepgate:command` task runs under bubblewrap
/// (`bwrap`) in fresh user, mount, PID, IPC, UTS and cgroup namespaces, and a network namespace of
/// its own unless its role has `network: true`. It sees the system's read-only `/usr` (and the
/// `/bin`, `/lib*` links into it), a short list of `/etc` files a build needs (``SandboxLayout``),
/// its checkout and home directory (read-write), a private `/tmp`, its own `/proc` and `/dev`, the
/// read-only paths its role lists, and nothing else: not the store, the server's configuration,
/// password, token or key files, the served repository, or any other process. The role's secrets
/// reach it as environment variables only; secret files are never mounted.
///
/// With ``Mode/none`` tasks run with the server's own uid and file access, as plain child
/// processes in a process group; an operator must ask for it explicitly (`sandbox: none`), and
/// every report then carries ``unsandboxedNotice``.
public struct Sandbox: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        case bubblewrap
        case none
    }

    public var mode: Mode
    /// Files and directories a task must never see, even when a directory it is given holds them:
    /// the store, configuration files, password and token files, key directories. Where an
    /// exposed directory contains one, the sandbox covers it: a file with /dev/null on a mount
    /// without devices (it can be neither read nor written), a directory with an empty one.
    public var protectedPaths: [String]
    /// The bwrap program; when nil it is looked for on the server's PATH, then in /usr/bin and
    /// /usr/local/bin.
    public var bubblewrapPath: String?

    public init(mode: Mode = .bubblewrap, protectedPaths: [String] = [], bubblewrapPath: String? = nil) {
        self.mode = mode
        self.protectedPaths = protectedPaths
        self.bubblewrapPath = bubblewrapPath
    }

    /// Every command task in a bubblewrap sandbox (the default).
    public static let bubblewrap = Sandbox()
    /// No sandbox: tasks run as the server's own user.
    public static let none = Sandbox(mode: .none)

    /// This sandbox, also hiding `paths` from tasks.
    public func protecting(_ paths: [String]) -> Sandbox {
        var copy = self
        copy.protectedPaths += paths.filter { !$0.isEmpty }
        return copy
    }

    /// The line a report (review summary, hook output, `stepgate run`) carries for every run made
    /// with `sandbox: none`.
    public static let unsandboxedNotice =
        "command tasks ran without a sandbox (sandbox: none): they could read and change everything the server's user can"

    /// The bwrap program to run, or why there is none.
    func locateBubblewrap(environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<String, SandboxUnavailable> {
        if let bubblewrapPath {
            return access(bubblewrapPath, X_OK) == 0
                ? .success(bubblewrapPath)
                : .failure(SandboxUnavailable("\(bubblewrapPath) is not an executable file"))
        }
        let searched = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in searched where directory.hasPrefix("/") {
            let candidate = directory + "/bwrap"
            if access(candidate, X_OK) == 0 { return .success(candidate) }
        }
        return .failure(
            SandboxUnavailable(
                "bubblewrap is not installed (no bwrap on PATH, in /usr/bin or /usr/local/bin); install the package bubblewrap"))
    }

    /// Checks that tasks can be sandboxed here by starting one empty sandbox (a few milliseconds).
    /// - Returns: nil when they can (always with ``Mode/none``), else one line saying why not: bwrap
    ///   is missing, or the kernel refuses the namespaces it needs (user namespaces disabled for
    ///   unprivileged users, a seccomp or AppArmor policy...).
    public func probe() -> SandboxUnavailable? {
        guard mode == .bubblewrap else { return nil }
        let bwrap: String
        switch locateBubblewrap() {
        case .success(let path): bwrap = path
        case .failure(let why): return why
        }
        let scratch = FileManager.default.temporaryDirectory.path + "/stepgate-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(scratch, 0o700) == 0 else {
            return SandboxUnavailable("cannot create \(scratch) to try the sandbox: \(String(cString: strerror(errno)))")
        }
        defer { rmdir(scratch) }
        let layout = SandboxLayout(writable: [scratch], workingDirectory: scratch)
        let arguments: [String]
        do { arguments = try layout.arguments() } catch { return error }
        let spec = ProcessSpec(
            executable: bwrap, arguments: [bwrap] + arguments + ["--", "/usr/bin/true"], environment: [:],
            workingDirectory: "/", stdin: nil, timeout: 10, heartbeat: nil, outputLimit: 4096, killGrace: 0.1,
            sandboxed: true)
        let outcome: ProcessOutcome
        do {
            let cancel = try CancelSignal()
            defer { cancel.close() }
            outcome = try ProcessRunner.runBlocking(spec, cancelFD: cancel.readEnd)
        } catch {
            return SandboxUnavailable("cannot start \(bwrap): \(error.description)")
        }
        if outcome.sandboxSetupFailed || outcome.termination != .exited(0) {
            return SandboxUnavailable(Self.bubblewrapComplaint(outcome.stderr, bwrap: bwrap))
        }
        return nil
    }

    /// bwrap's own message (its first `bwrap:` line), with a hint when it is about namespaces.
    static func bubblewrapComplaint(_ stderr: [UInt8], bwrap: String) -> String {
        let text = String(decoding: stderr, as: UTF8.self)
        let line =
            text.split(separator: "\n").first { $0.hasPrefix("bwrap:") }.map(String.init)
            ?? text.split(separator: "\n").first.map(String.init) ?? "\(bwrap) failed without a message"
        var message = "\(bwrap) cannot make a sandbox here: \(line)"
        if line.contains("namespace") || line.contains("Operation not permitted") || line.contains("No permissions") {
            message += " (user namespaces must be available: check kernel.unprivileged_userns_clone, user.max_user_namespaces"
                + " and any AppArmor or seccomp policy of the service)"
        }
        return message
    }
}

/// Why command tasks cannot be sandboxed here: one line.
public struct SandboxUnavailable: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    /// Whether the line ends by naming the way out (`sandbox: none`): for a server that cannot
    /// make sandboxes at all, not for a task whose own layout is wrong.
    public var namesTheWayOut: Bool

    public init(_ reason: String, hint: Bool = true) {
        self.reason = reason
        self.namesTheWayOut = hint
    }

    /// What the hooks and the bot print when they refuse to run tasks:
    /// `cannot run tasks in a sandbox: REASON[; to run them without one, set 'sandbox: none' ...]`.
    public var description: String {
        "cannot run tasks in a sandbox: \(reason)"
            + (namesTheWayOut ? "; to run them without one, set 'sandbox: none' in the server configuration" : "")
    }

    /// The task failure a command reports when its sandbox cannot be made.
    var executionError: ExecutionError { ExecutionError("stepgate.SandboxUnavailable", description) }
}

// MARK: - The `sandbox` setting

extension Sandbox {
    /// Reads the top-level `sandbox` setting of bot.yaml or the hook configuration:
    /// `bubblewrap` (also when the key is absent or null) or `none`.
    /// - Throws: ``PolicyError`` with one located diagnostic when the value is anything else.
    public static func mode(in document: SourceDocument) throws(PolicyError) -> Mode {
        guard let root = document.value.objectValue, let value = root["sandbox"], !value.isNull else { return .bubblewrap }
        guard let text = value.stringValue, let mode = Mode(rawValue: text) else {
            let found = value.stringValue.map { "'\($0)'" } ?? value.serialized
            let diagnostic = Diagnostic(
                .error, "'sandbox' must be bubblewrap or none (found \(found))", at: [.key("sandbox")]
            ).located(in: document.sourceMap)
            throw PolicyError(fileName: document.fileName, diagnostics: [diagnostic])
        }
        return mode
    }
}
