import ArgumentParser
import Foundation
import Git
import Runtime
import StatesLanguage

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workflow definition locally.",
        discussion: """
            Exit status 0 when the execution succeeds, 1 when it fails, 2 when the definition, the \
            input or the policy is invalid. With --format json, stdout is exactly one JSON object: \
            {"status":"SUCCEEDED","output":...} or {"status":"FAILED","error":"...","cause":"..."}. \
            Roles (Task Credentials) come only from the --policy file; without one, no role is \
            granted and a workflow whose tasks name a role fails before any task runs. Command \
            tasks run in the current directory, or in a fresh checkout of --rev from --repo, inside a \
            bubblewrap sandbox unless --sandbox none (or the policy file's 'sandbox: none') says otherwise.
            """)

    @Option(help: "The definition file (*.asl.json or *.asl.yaml).")
    var definition: String

    @Option(help: "The execution input as JSON text.")
    var input: String?

    @Option(help: "A file holding the execution input as JSON.")
    var inputFile: String?

    @Option(help: "The server policy (bot.yaml, hook config or a file with a 'roles' section) granting roles and secrets.")
    var policy: String?

    @Option(help: "A git repository whose revision command tasks run in (a fresh checkout per task).")
    var repo: String?

    @Option(help: "The revision of --repo to check out (default HEAD).")
    var rev: String?

    @Option(help: "A key directory for task identity tokens (STEPGATE_ID_TOKEN); needs --identity-issuer and --identity-audience.")
    var identityKeys: String?

    @Option(help: "The issuer (iss) of task identity tokens.")
    var identityIssuer: String?

    @Option(help: "The audience (aud) of task identity tokens.")
    var identityAudience: String?

    @Option(help: "Output format: text (the history, readably) or json (one result object).")
    var format: OutputFormat = .text

    @Flag(help: "Run Wait states, retry intervals and timeouts on a virtual clock that never sleeps.")
    var virtualTime = false

    @OptionGroup var sandboxOptions: SandboxOptions

    func validate() throws {
        if input != nil && inputFile != nil {
            throw ValidationError("give the input with --input or --input-file, not both")
        }
        if rev != nil && repo == nil {
            throw ValidationError("--rev needs --repo")
        }
        if identityKeys != nil && (identityIssuer == nil || identityAudience == nil) {
            throw ValidationError("--identity-keys needs --identity-issuer and --identity-audience")
        }
    }

    func run() async throws {
        let machine: StateMachine
        switch Terminal.loadDefinition(definition) {
        case .success(let m): machine = m
        case .failure(let list):
            for d in list.diagnostics { Terminal.printError(d.formatted(file: definition)) }
            throw ExitCode(2)
        }
        var rolePolicy = RolePolicy.empty
        if let policy {
            do { rolePolicy = try RolePolicy.load(path: policy) } catch {
                Terminal.printError(error.description)
                throw ExitCode(2)
            }
        }
        let inputValue: JSON
        do { inputValue = try readInput() } catch { Terminal.fail(error) }

        let workspace: StepgateTaskExecutor.Workspace
        var context = TriggerContext(
            kind: .manual, repository: "", workflow: Self.workflowName(definition))
        if let repo {
            let revision = rev ?? "HEAD"
            do {
                let repository = try Repository(path: repo)
                let commit = try repository.resolve(revision)
                workspace = .checkout(repository: repo, commit: commit.description)
                context.revision = commit.description
                let branchName = revision.hasPrefix("refs/heads/") ? String(revision.dropFirst("refs/heads/".count)) : revision
                if try repository.reference("refs/heads/\(branchName)") != nil { context.branch = branchName }
            } catch {
                Terminal.fail(CLIFailure(message: "\(repo): cannot resolve \(revision): \(error)"))
            }
            context.repository = Self.repositoryName(repo)
        } else {
            let cwd = FileManager.default.currentDirectoryPath
            workspace = .directory(cwd)
            context.repository = Self.repositoryName(cwd)
        }

        let id = UUID().uuidString.lowercased()
        let started = Date()
        let grants: RoleGrants
        do {
            grants = try rolePolicy.authorize(machine: machine, context: context)
        } catch {
            // Refused before any task runs.
            let e = error.executionError
            switch format {
            case .json:
                let object: JSON = ["status": "FAILED", "error": .string(e.error), "cause": .string(e.cause)]
                writeStdout(object.serialized + "\n")
            case .text:
                writeStdout("execution \(id): FAILED before any task ran\n  error: \(e.error)\n  cause: \(e.cause)\n")
            }
            throw ExitCode(1)
        }

        var identity: IdentityTokenIssuer?
        if let identityKeys, let identityIssuer, let identityAudience {
            do {
                identity = try IdentityTokenIssuer(keyDirectory: identityKeys, issuer: identityIssuer, audience: identityAudience)
            } catch {
                Terminal.fail(CLIFailure(message: error.description))
            }
        }
        var configuration = StepgateTaskExecutor.Configuration(workspace: workspace, grants: grants, context: context, identity: identity)
        configuration.killGrace = 2
        configuration.sandbox = sandboxOptions.resolve(policyFile: policy, protecting: [policy, identityKeys].compactMap { $0 })
        let tasks = StepgateTaskExecutor(configuration: configuration).redacting()

        let identityOfExecution = ExecutionIdentity(
            executionID: "stepgate:local:execution:\(id)", name: id,
            stateMachineName: URL(fileURLWithPath: definition).lastPathComponent)
        let environment = ExecutionEnvironment(
            clock: virtualTime ? VirtualClock(start: Date()) : SystemClock(), tasks: tasks)
        let result = await Interpreter(machine: machine, identity: identityOfExecution, environment: environment).run(input: inputValue)
        switch format {
        case .json:
            writeStdout(result.json.serialized + "\n")
        case .text:
            writeStdout(HistoryRenderer.render(result, executionName: id, wallTime: Date().timeIntervalSince(started)))
        }
        if result.status != .succeeded { throw ExitCode(1) }
    }

    /// `deploy` for `.stepgate/workflows/deploy.asl.json`.
    static func workflowName(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".json", ".yaml", ".yml"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
            break
        }
        if name.hasSuffix(".asl") { name.removeLast(4) }
        return name
    }

    /// `demo` for `/srv/git/demo.git` or `/home/me/demo`.
    static func repositoryName(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        if name.hasSuffix(".git") && name.count > 4 { name.removeLast(4) }
        return name
    }

    private func readInput() throws(CLIFailure) -> JSON {
        let text: String
        let origin: String
        if let inputFile {
            text = try Terminal.readText(inputFile, what: "input file")
            origin = inputFile
        } else if let input {
            text = input
            origin = "--input"
        } else {
            return .object(JSONObject())
        }
        return try Terminal.parseInput(text, origin: origin)
    }
}
