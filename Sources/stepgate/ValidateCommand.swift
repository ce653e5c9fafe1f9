import ArgumentParser
import Config
import Foundation
import Git
import Runtime
import StatesLanguage

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate workflow definitions (ASL, JSON or YAML) and .stepgate/stepgate.yaml files.",
        discussion: """
            Exit status 0 when every file is valid, 1 otherwise (2 when the repository or revision cannot \
            be read). Text diagnostics read FILE:LINE:COL: error: MESSAGE. A file named stepgate.yaml or \
            stepgate.yml is a repository configuration; anything else is a definition. With --repo, the \
            configuration and every definition under .stepgate/workflows/ are read from a commit through \
            libgit2 (no checkout), and FILE is the path inside the repository. A definition's deploy-time \
            placeholders (${KEY}) take the values of the workflow that names it in .stepgate/stepgate.yaml, \
            then those of --substitutions and --substitute; a Resource that still holds one is an error \
            naming the key.
            """)

    @Argument(help: "Definition files (*.asl.json, *.asl.yaml) or stepgate.yaml files.")
    var files: [String] = []

    @Option(help: "Validate the .stepgate/ directory of this repository instead of files.")
    var repo: String?

    @Option(help: "The revision to read with --repo.")
    var rev: String = "HEAD"

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup(title: "Deploy-time placeholders")
    var placeholders: SubstitutionOptions

    func validate() throws {
        if repo == nil && files.isEmpty { throw ValidationError("give files to validate, or --repo PATH") }
        if repo != nil && !files.isEmpty { throw ValidationError("give files or --repo, not both") }
        if repo != nil && (!placeholders.substitute.isEmpty || placeholders.substitutions != nil) {
            throw ValidationError("--substitute and --substitutions apply to definition files, not to --repo")
        }
    }

    func run() async throws {
        var results: [(file: String, diagnostics: [Diagnostic])] = []
        if let repo {
            do {
                let repository = try Repository(path: repo)
                guard let commit = try repository.resolveIfPresent(rev) else {
                    Terminal.fail(CLIFailure(message: "\(repo): no revision '\(rev)'"))
                }
                results = try StepgateDirectory.validate(GitRevision(repository: repository, commit: commit))
            } catch {
                Terminal.fail(CLIFailure(message: "\(repo): \(Self.message(error))"))
            }
            if results.isEmpty && format == .text {
                writeStdout("\(repo): no .stepgate/ files at \(rev)\n")
                return
            }
        } else {
            let given: DefinitionSubstitutions
            do { given = try placeholders.given() } catch { Terminal.fail(error) }
            for file in files { results.append((file, Self.validateFile(file, substitutions: given))) }
        }
        try report(results)
    }

    static func message(_ error: any Error) -> String {
        if let e = error as? GitError { return e.message }
        return String(describing: error)
    }

    /// One file from disk: a configuration (whose definitions must exist next to it) or a definition,
    /// its placeholders substituted with its workflow's values (when a stepgate.yaml above it names
    /// it) and then the given ones.
    static func validateFile(_ file: String, substitutions given: DefinitionSubstitutions) -> [Diagnostic] {
        guard StepgateDirectory.isRepositoryConfig(path: file) else {
            switch Terminal.loadDocument(file) {
            case .success(let document):
                let configured = WorkflowOfFile.find(definition: file)?.workflow.substitutions ?? DefinitionSubstitutions()
                return DefinitionValidator.validate(document, substitutions: configured.overridden(by: given))
            case .failure(let list): return list.diagnostics
            }
        }
        let text: String
        do { text = try Terminal.readText(file, what: "configuration file") } catch {
            return [Diagnostic(.error, error.message, at: [], location: SourceLocation(line: 1, column: 1))]
        }
        let loaded = StepgateDirectory.loadConfig(text: text, file: file)
        var diagnostics = loaded.diagnostics
        let directory = (file as NSString).deletingLastPathComponent
        for workflow in loaded.config?.workflows ?? [] {
            let path = (directory.isEmpty ? "" : directory + "/") + workflow.definition
            if !FileManager.default.fileExists(atPath: path) {
                let member: [PathComponent] = [.key("workflows"), .key(workflow.name), .key("definition")]
                diagnostics.append(
                    Diagnostic(
                        .error, "workflow '\(workflow.name)': definition \(path) does not exist", at: member,
                        location: loaded.document?.sourceMap.valueLocation(member)))
            }
        }
        return diagnostics
    }

    private func report(_ results: [(file: String, diagnostics: [Diagnostic])]) throws {
        var allValid = true
        var reports: [JSON] = []
        var lines: [String] = []
        for (file, diagnostics) in results {
            let errors = diagnostics.filter { $0.severity == .error }
            if !errors.isEmpty { allValid = false }
            lines += diagnostics.map { $0.formatted(file: file) }
            reports.append(
                .object(
                    JSONObject([
                        ("file", .string(file)), ("valid", .bool(errors.isEmpty)),
                        (
                            "diagnostics",
                            .array(
                                diagnostics.map { d in
                                    .object(
                                        JSONObject([
                                            ("line", .int(d.location?.line ?? 1)), ("column", .int(d.location?.column ?? 1)),
                                            ("severity", .string(d.severity.rawValue)), ("message", .string(d.message)),
                                        ]))
                                })
                        ),
                    ])))
        }
        switch format {
        case .json:
            writeStdout(JSON.object(JSONObject([("valid", .bool(allValid)), ("files", .array(reports))])).serialized + "\n")
        case .text:
            if lines.isEmpty {
                writeStdout(results.map { "\($0.file): valid\n" }.joined())
            } else {
                writeStdout(lines.joined(separator: "\n") + "\n")
            }
        }
        if !allValid { throw ExitCode(1) }
    }
}
