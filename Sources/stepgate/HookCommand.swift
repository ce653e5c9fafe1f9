import ArgumentParser
import Foundation
import Git
import Hooks
import Runtime
import StatesLanguage
import Store

/// `stepgate hook pre-receive|update|post-receive` (what the shims run) and the detached
/// `stepgate hook run-push` that post-receive starts.
struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Run a server-side git hook (called by the shims `stepgate hooks install` puts in place).",
        subcommands: [PreReceive.self, Update.self, PostReceive.self, RunPush.self])

    struct PreReceive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pre-receive",
            abstract: "Validate pushed .stepgate/ files and run push gates; reads '<old> <new> <ref>' lines on stdin.")

        @Option(help: "The time budget for the whole hook (e.g. 5s, 500ms); overrides hooks.timeout.")
        var timeout: String?

        func run() async throws {
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            let code = await HookSupport.check(hook: "pre-receive", timeout: timeout) { () throws(RefUpdate.ParseError) in
                try RefUpdate.parse(hookInput: input)
            }
            throw ExitCode(code)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update", abstract: "The same checks as pre-receive, for one ref: <ref> <old> <new>.")

        @Option(help: "The time budget for the whole hook (e.g. 5s, 500ms); overrides hooks.timeout.")
        var timeout: String?

        @Argument(help: "<ref> <old> <new>, as git passes them.")
        var arguments: [String] = []

        func run() async throws {
            let arguments = self.arguments
            let code = await HookSupport.check(hook: "update", timeout: timeout) { () throws(RefUpdate.ParseError) in
                [try RefUpdate.parse(updateArguments: arguments)]
            }
            throw ExitCode(code)
        }
    }

    struct PostReceive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "post-receive",
            abstract: "Start push workflows in the background; reads '<old> <new> <ref>' lines on stdin.")

        func run() async throws {
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            CrashGuard.install(message: "stepgate: warning: stepgate hook post-receive crashed; push workflows may not have started", status: 0)
            let environment = ProcessInfo.processInfo.environment
            let (settings, problem) = HookSupport.settings(environment: environment)
            if let problem { Terminal.printError("stepgate: warning: \(problem); using the default hook settings") }
            do {
                let updates = try RefUpdate.parse(hookInput: input)
                let repository = try Repository.openFromHookEnvironment()
                let policy = try HookSupport.policy(environment: environment).get()
                let store = settings.storeURL(gitDirectory: repository.path)
                let launcher = DetachedProcessLauncher(
                    executable: HookSupport.executablePath(), gitDirectory: repository.path, store: store,
                    configFile: HookSupport.configFile(environment: environment))
                let report = await PushStarter(
                    repository: repository, settings: settings, environment: environment,
                    runs: HookSupport.runs(store: store, policy: policy), launcher: launcher
                ).start(updates)
                for line in report.lines { Terminal.printError(line) }
            } catch {
                Terminal.printError("stepgate: warning: no push workflow started: \(HookSupport.describe(error))")
            }
        }
    }

    struct RunPush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-push", abstract: "Run one recorded push workflow to its end (started by post-receive).",
            shouldDisplay: false)

        @Option(help: "The repository's git directory.")
        var gitDir: String

        @Option(help: "The hooks' store.")
        var store: String

        @Option(help: "The execution post-receive recorded.")
        var execution: String

        func run() async throws {
            var environment = ProcessInfo.processInfo.environment
            environment["GIT_DIR"] = environment["GIT_DIR"] ?? gitDir
            let policy: RolePolicy
            switch HookSupport.policy(environment: environment) {
            case .success(let p): policy = p
            case .failure(let error):
                Terminal.printError("stepgate: error: execution \(execution): hook configuration: \(error.description)")
                throw ExitCode(1)
            }
            let runs: WorkflowRuns
            do { runs = try HookSupport.runs(store: store, policy: policy)() } catch {
                Terminal.printError("stepgate: error: execution \(execution): \(HookSupport.describe(error))")
                throw ExitCode(1)
            }
            do {
                let outcome = try await runs.resume(id: execution)
                print("execution \(execution): \(outcome.result.status.rawValue)")
                if outcome.result.status != .succeeded { throw ExitCode(1) }
            } catch let error as StoreError {
                Terminal.printError("stepgate: error: execution \(execution): \(error.message)")
                throw ExitCode(1)
            }
        }
    }
}

enum HookSupport {
    /// The hook settings from the file the repository's git config names (`stepgate.config`),
    /// or `STEPGATE_HOOK_CONFIG`; defaults when neither is set. A problem is returned, not thrown.
    static func settings(environment: [String: String]) -> (HookSettings, String?) {
        guard let file = configFile(environment: environment) else { return (HookSettings(), nil) }
        do {
            return (try HookSettings.load(file: file), nil)
        } catch {
            return (HookSettings(), error.description)
        }
    }

    /// The hook configuration file, if one is set.
    static func configFile(environment: [String: String]) -> String? {
        var file = environment["STEPGATE_HOOK_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if file == nil {
            let gitDirectory = environment["GIT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "."
            file = GitConfigFile.stepgateValue("config", configFile: gitDirectory + "/config")
        }
        guard let file, !file.isEmpty else { return nil }
        return file
    }

    /// The roles the hook configuration grants (its `roles` section); none without a file.
    static func policy(environment: [String: String]) -> Result<RolePolicy, PolicyError> {
        guard let file = configFile(environment: environment) else { return .success(.empty) }
        do { return .success(try RolePolicy.load(path: file)) } catch { return .failure(error) }
    }

    /// Opens the hooks' store and makes the front door, when first needed.
    static func runs(store: String, policy: RolePolicy) -> () throws -> WorkflowRuns {
        {
            let opened = try SQLiteStore(url: store)
            return WorkflowRuns(store: opened, settings: WorkflowRuns.Settings(policy: policy))
        }
    }

    /// pre-receive and update: everything that can go wrong ends as lines on stderr and an
    /// exit status, following the on-error policy.
    static func check(hook: String, timeout: String?, updates: () throws(RefUpdate.ParseError) -> [RefUpdate]) async -> Int32 {
        let started = ContinuousClock.now
        let environment = ProcessInfo.processInfo.environment
        var (settings, problem) = settings(environment: environment)
        // Until the configuration is known to be good, errors fail closed.
        CrashGuard.install(message: "stepgate: rejected push: internal error: stepgate hook \(hook) crashed (on-error: fail-closed)", status: 1)
        if let problem {
            Terminal.printError("stepgate: rejected push: internal error: hook configuration: \(problem) (on-error: fail-closed)")
            return 1
        }
        if let timeout {
            guard let duration = HookSettings.duration(timeout) else {
                Terminal.printError("stepgate: rejected push: internal error: --timeout \(timeout) is not a duration (on-error: fail-closed)")
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
            seconds: Double(budget.components.seconds) + Double(budget.components.attoseconds) / 1e18 + 1.0,
            message: "stepgate: rejected push: stepgate hook \(hook) exceeded its time budget", status: 1)
        var report = HookReport()
        do {
            let list = try updates()
            let repository = try Repository.openFromHookEnvironment()
            let policy = try HookSupport.policy(environment: environment).get()
            let checker = PushChecker(
                repository: repository, settings: settings, environment: environment,
                runs: runs(store: settings.storeURL(gitDirectory: repository.path), policy: policy),
                deadline: started + budget, trigger: "pre-receive")
            report = await checker.check(list)
        } catch {
            var failed = HookReport()
            failed.internalErrorLine(describe(error), policy: settings.onError)
            report = failed
        }
        for line in report.lines { Terminal.printError(line) }
        return report.exitCode
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
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        let argument0 = CommandLine.arguments.first ?? "stepgate"
        if argument0.hasPrefix("/") { return argument0 }
        return FileManager.default.currentDirectoryPath + "/" + argument0
    }
}
