public import Runtime
internal import Config
internal import Foundation
internal import Git
internal import StatesLanguage
internal import Store

/// The hooks' entry points as git calls them, shared by `stepgate hook ...` and the small
/// `stepgate-hook` executable the shims prefer (it links only what a hook needs, so a push pays
/// little for starting it). Everything that goes wrong is lines on stderr and an exit status.
public enum HookMain {
    /// `[hook] pre-receive [--timeout T]`, `[hook] update [--timeout T] REF OLD NEW`,
    /// `[hook] post-receive`, `[hook] run-push --git-dir D --store URL --execution ID`.
    public static func run(arguments: [String]) async -> Int32 {
        var args = arguments
        if args.first == "hook" { args.removeFirst() }
        guard let name = args.first else {
            printError("stepgate-hook: usage: stepgate-hook pre-receive|update|post-receive|run-push ...")
            return 2
        }
        args.removeFirst()
        func option(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            let value = args[i + 1]
            args.removeSubrange(i...(i + 1))
            return value
        }
        switch name {
        case "pre-receive":
            let timeout = option("--timeout")
            let input = readStandardInput()
            return await check(hook: "pre-receive", timeout: timeout) { () throws(RefUpdate.ParseError) in
                try RefUpdate.parse(hookInput: input)
            }
        case "update":
            let timeout = option("--timeout")
            let rest = args
            return await check(hook: "update", timeout: timeout) { () throws(RefUpdate.ParseError) in
                [try RefUpdate.parse(updateArguments: rest)]
            }
        case "post-receive":
            return await postReceive(input: readStandardInput())
        case "run-push":
            guard let gitDir = option("--git-dir"), let store = option("--store"), let execution = option("--execution") else {
                printError("stepgate: error: run-push needs --git-dir, --store and --execution")
                return 2
            }
            return await runPush(gitDirectory: gitDir, store: store, execution: execution)
        default:
            printError("stepgate-hook: unknown hook '\(name)' (expected pre-receive, update, post-receive or run-push)")
            return 2
        }
    }

    // MARK: - pre-receive and update

    /// pre-receive and update: everything that can go wrong ends as lines on stderr and an exit
    /// status, following the on-error policy.
    public static func check(hook: String, timeout: String?, updates: () throws(RefUpdate.ParseError) -> [RefUpdate]) async -> Int32 {
        let started = ContinuousClock.now
        let environment = ProcessInfo.processInfo.environment
        let configuration = HookConfiguration.load(environment: environment)
        var settings = configuration.settings
        // Until the configuration is known to be good, errors fail closed.
        CrashGuard.install(message: "stepgate: rejected push: internal error: stepgate hook \(hook) crashed (on-error: fail-closed)", status: 1)
        if let problem = configuration.problem {
            printError("stepgate: rejected push: internal error: hook configuration: \(problem) (on-error: fail-closed)")
            return 1
        }
        if let timeout {
            guard let duration = HookSettings.duration(timeout) else {
                printError("stepgate: rejected push: internal error: --timeout \(timeout) is not a duration (on-error: fail-closed)")
                return 1
            }
            settings.timeout = duration
        }
        switch settings.onError {
        case .failClosed: break
        case .failOpen:
            CrashGuard.install(message: "stepgate: warning: internal error: stepgate hook \(hook) crashed; accepting (on-error: fail-open)", status: 0)
        }
        let budget = settings.timeout
        // A hard stop shortly after the budget, in case something does not yield to the deadline.
        CrashGuard.watchdog(
            seconds: budget.seconds + 1.0, message: "stepgate: rejected push: stepgate hook \(hook) exceeded its time budget", status: 1)
        var report = HookReport()
        do {
            let list = try updates()
            let repository = try Repository.openFromHookEnvironment()
            let policy = try configuration.policy.get()
            let checker = PushChecker(
                repository: repository, settings: settings, environment: environment,
                runs: runs(
                    store: settings.storeURL(gitDirectory: repository.path), policy: policy, settings: settings,
                    configFile: configuration.file, gitDirectory: repository.path),
                deadline: started + budget, trigger: "pre-receive")
            report = await checker.check(list)
            if checker.sawPushWorkflows { markPushWorkflows(gitDirectory: repository.path) }
        } catch {
            var failed = HookReport()
            failed.internalErrorLine(describe(error), policy: settings.onError)
            report = failed
        }
        for line in report.lines { printError(line) }
        return report.exitCode
    }

    // MARK: - post-receive

    /// The file whose presence tells the post-receive shim that the repository has push
    /// workflows (pre-receive creates it when a trusted configuration it read has any), so that a
    /// repository without them never starts a post-receive process.
    public static func pushWorkflowsMarker(gitDirectory: String) -> String { gitDirectory + "/stepgate/push-workflows" }

    static func markPushWorkflows(gitDirectory: String) {
        let marker = pushWorkflowsMarker(gitDirectory: gitDirectory)
        guard !FileManager.default.fileExists(atPath: marker) else { return }
        try? PrivateFiles.createDirectories(gitDirectory + "/stepgate")
        try? PrivateFiles.createFile(marker)
    }

    public static func postReceive(input: String) async -> Int32 {
        CrashGuard.install(message: "stepgate: warning: stepgate hook post-receive crashed; push workflows may not have started", status: 0)
        let environment = ProcessInfo.processInfo.environment
        let configuration = HookConfiguration.load(environment: environment)
        let settings = configuration.settings
        if let problem = configuration.problem { printError("stepgate: warning: \(problem); using the default hook settings") }
        do {
            let updates = try RefUpdate.parse(hookInput: input)
            let repository = try Repository.openFromHookEnvironment()
            let policy = try configuration.policy.get()
            let store = settings.storeURL(gitDirectory: repository.path)
            let launcher = DetachedProcessLauncher(
                executable: executablePath(), gitDirectory: repository.path, store: store, configFile: configuration.file)
            let report = await PushStarter(
                repository: repository, settings: settings, environment: environment,
                runs: runs(store: store, policy: policy, settings: settings, configFile: configuration.file, gitDirectory: repository.path),
                launcher: launcher
            ).start(updates)
            for line in report.lines { printError(line) }
        } catch {
            printError("stepgate: warning: no push workflow started: \(describe(error))")
        }
        return 0
    }

    /// The detached runner post-receive starts: resumes the recorded execution to its end.
    public static func runPush(gitDirectory: String, store: String, execution: String) async -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_DIR"] = environment["GIT_DIR"] ?? gitDirectory
        let configuration = HookConfiguration.load(environment: environment)
        let granted: RolePolicy
        switch configuration.policy {
        case .success(let p): granted = p
        case .failure(let error):
            printError("stepgate: error: execution \(execution): hook configuration: \(error.description)")
            return 1
        }
        let front: WorkflowRuns
        do {
            front = try runs(
                store: store, policy: granted, settings: configuration.settings, configFile: configuration.file, gitDirectory: gitDirectory)()
        } catch {
            printError("stepgate: error: execution \(execution): \(describe(error))")
            return 1
        }
        do {
            let outcome = try await front.resume(id: execution)
            FileHandle.standardOutput.write(Data("execution \(execution): \(outcome.result.status.rawValue)\n".utf8))
            return outcome.result.status == .succeeded ? 0 : 1
        } catch {
            printError("stepgate: error: execution \(execution): \(error.message)")
            return 1
        }
    }

    // MARK: - Configuration

    /// The hook configuration file, if one is set: `STEPGATE_HOOK_CONFIG`, else the file the
    /// repository's git config names (`stepgate.config`).
    public static func configFile(environment: [String: String]) -> String? {
        var file = environment["STEPGATE_HOOK_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if file == nil {
            let gitDirectory = environment["GIT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "."
            file = GitConfigFile.stepgateValue("config", configFile: gitDirectory + "/config")
        }
        guard let file, !file.isEmpty else { return nil }
        return file
    }

    /// Opens the hooks' store and makes the front door, when first needed. Command tasks run in
    /// the sandbox the configuration says (bubblewrap unless `none`), never seeing the store, the
    /// hook configuration or the served repository; a task that ignores SIGTERM gets little grace
    /// within a push's time budget.
    static func runs(
        store: String, policy: RolePolicy, settings hook: HookSettings, configFile: String?, gitDirectory: String
    ) -> () throws -> WorkflowRuns {
        {
            let opened = try openStore(url: store)
            var settings = WorkflowRuns.Settings(policy: policy)
            settings.resources = hook.resources
            settings.killGrace = 0.5
            let protected = opened.privateFiles + [configFile].compactMap { $0 } + [gitDirectory]
            settings.sandbox = Sandbox(mode: hook.sandbox).protecting(protected)
            return WorkflowRuns(store: opened, settings: settings)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? GitError { return e.description }
        if let e = error as? RefUpdate.ParseError { return e.description }
        if let e = error as? HookFailure { return e.description }
        if let e = error as? StoreError { return e.message }
        if let e = error as? PolicyError { return e.description }
        return String(describing: error)
    }

    /// This process's own binary, for the detached runner.
    public static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let argument0 = CommandLine.arguments.first ?? "stepgate"
        if argument0.hasPrefix("/") { return argument0 }
        return FileManager.default.currentDirectoryPath + "/" + argument0
    }

    static func readStandardInput() -> String {
        String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// The hook configuration of one hook run, found and read once: the file, its hook settings (or
/// why they could not be read, with defaults in their place) and the roles it grants.
struct HookConfiguration {
    var file: String?
    var settings = HookSettings()
    var problem: String?
    var policy: Result<RolePolicy, PolicyError> = .success(.empty)

    static func load(environment: [String: String]) -> HookConfiguration {
        guard let file = HookMain.configFile(environment: environment) else { return HookConfiguration() }
        var configuration = HookConfiguration(file: file)
        let document: SourceDocument
        do { document = try RolePolicy.readDocument(path: file) } catch {
            configuration.policy = .failure(error)
            // The hook settings' own words for a file that cannot be read or parsed.
            do { _ = try HookSettings.load(file: file) } catch let problem { configuration.problem = problem.description }
            configuration.problem = configuration.problem ?? error.description
            return configuration
        }
        do { configuration.policy = .success(try RolePolicy.parse(document: document)) } catch { configuration.policy = .failure(error) }
        do { configuration.settings = try HookSettings.parse(document: document, file: file) } catch {
            configuration.problem = error.description
        }
        return configuration
    }
}
