import ArgumentParser
import Config
import Foundation
import Git
import Runtime
import StatesLanguage
import Store

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
            bubblewrap sandbox unless --sandbox none (or the policy file's 'sandbox: none') says otherwise. AWS \
            resources run as the workflow's resources in .stepgate/stepgate.yaml, --resources and \
            --mock say; an AWS resource nothing maps fails the execution, naming it. ItemReader and \
            ResultWriter buckets are the directories the workflow's buckets and --bucket name.
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

    @OptionGroup(title: "Deploy-time placeholders")
    var placeholders: SubstitutionOptions

    @OptionGroup(title: "AWS resources and buckets run locally")
    var local: LocalRunOptions

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
        try local.validateOptions()
    }

    func run() async throws {
        let text: String
        do { text = try Terminal.readText(definition, what: "definition file") } catch { Terminal.fail(error) }
        let (_, workflowOfFile, substitutions) = try placeholders.load(definition)
        var rolePolicy = RolePolicy.empty
        if let policy {
            do { rolePolicy = try RolePolicy.load(path: policy) } catch {
                Terminal.printError(error.description)
                throw ExitCode(2)
            }
        }
        let inputValue: JSON
        do { inputValue = try readInput() } catch { Terminal.fail(error) }

        var repository: RunRepository?
        var trusted = TrustedSide.none()
        let checkout: Checkout
        if let repo {
            let revision = rev ?? "HEAD"
            do {
                let opened = try Repository(path: repo)
                let commit = try opened.resolve(revision)
                repository = RunRepository(name: Self.repositoryName(repo), gitDirectory: repo)
                checkout = .commit(commit.description)
                // A local run trusts what it runs; branch-restricted roles need the branch itself.
                trusted = TrustedSide(
                    commit: commit.description, branch: try TrustRules.branch(ofRevision: revision, resolvedTo: commit, in: opened) ?? "",
                    configuration: .absent)
            } catch {
                Terminal.fail(CLIFailure(message: "\(repo): cannot resolve \(revision): \(error)"))
            }
        } else {
            checkout = .directory(FileManager.default.currentDirectoryPath)
        }
        var identity: IdentityTokenIssuer?
        if let identityKeys, let identityIssuer, let identityAudience {
            do {
                identity = try IdentityTokenIssuer(keyDirectory: identityKeys, issuer: identityIssuer, audience: identityAudience)
            } catch {
                Terminal.fail(CLIFailure(message: error.description))
            }
        }
        let local: LocalRun
        do { local = try self.local.localRun(definition: definition, workflow: workflowOfFile, substitutions: substitutions) } catch {
            Terminal.fail(error)
        }
        let request = RunRequest(
            kind: .manual, repository: repository, trusted: trusted, definition: .file(path: definition, text: text),
            checkout: checkout, input: inputValue,
            repositoryName: Self.repositoryName(repo ?? FileManager.default.currentDirectoryPath), local: local)
        var settings = WorkflowRuns.Settings(policy: rolePolicy, identity: identity)
        settings.sandbox = sandboxOptions.resolve(policyFile: policy, protecting: [policy, identityKeys].compactMap { $0 })
        let runs = WorkflowRuns(store: nil, settings: settings)
        let started = Date()
        let outcome: RunOutcome
        do {
            outcome = try await runs.start(request, clock: virtualTime ? VirtualClock(start: Date()) : SystemClock())
        } catch {
            Terminal.fail(CLIFailure(message: error.message))
        }
        let result = outcome.result
        if outcome.refused {
            switch format {
            case .json:
                let object: JSON = ["status": "FAILED", "error": .string(result.error ?? ""), "cause": .string(result.cause ?? "")]
                writeStdout(object.serialized + "\n")
            case .text:
                writeStdout(
                    "execution \(outcome.id): FAILED before any task ran\n  error: \(result.error ?? "")\n  cause: \(result.cause ?? "")\n")
            }
            throw ExitCode(1)
        }
        switch format {
        case .json:
            writeStdout(result.json.serialized + "\n")
        case .text:
            writeStdout(HistoryRenderer.render(result, executionName: outcome.id, wallTime: Date().timeIntervalSince(started)))
        }
        if result.status != .succeeded { throw ExitCode(1) }
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
