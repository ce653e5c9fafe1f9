import ArgumentParser
import Config
import Foundation
import StatesLanguage
import YAMLLoader

/// `--substitute KEY=VALUE` and `--substitutions FILE`: values for a definition's deploy-time
/// placeholders, winning over the workflow's `substitutions` in stepgate.yaml.
struct SubstitutionOptions: ParsableArguments {
    @Option(
        name: .customLong("substitute"),
        help: ArgumentHelp("A placeholder's value, KEY=VALUE, for ${KEY} in the definition (repeatable).", valueName: "KEY=VALUE"))
    var substitute: [String] = []

    @Option(help: ArgumentHelp("A YAML or JSON file of placeholder values (KEY: value), as a workflow's substitutions.", valueName: "FILE"))
    var substitutions: String?

    /// The values the command line gives: the file's, then each `--substitute` over them.
    func given() throws(CLIFailure) -> DefinitionSubstitutions {
        var values = DefinitionSubstitutions()
        if let substitutions {
            let document = try Terminal.loadYAMLOrJSON(substitutions, what: "substitutions file")
            let (loaded, diagnostics) = RepositoryConfigLoader.loadSubstitutions(document: document)
            guard let loaded else { throw CLIFailure(diagnostics[0], file: substitutions) }
            values = loaded
        }
        for pair in substitute {
            guard let eq = pair.firstIndex(of: "="), DefinitionSubstitutions.isKey(String(pair[..<eq])) else {
                throw CLIFailure(message: "--substitute \(pair): write KEY=VALUE, KEY without whitespace, '$', '{', '}' or quotes")
            }
            values.values[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return values
    }
}

extension SubstitutionOptions {
    /// The definition a command runs, its placeholders substituted with its workflow's values and
    /// then these; also the workflow. Problems print as located lines and exit with status 2.
    func loadMachine(_ definition: String) throws -> (StateMachine, WorkflowOfFile?) {
        let (machine, workflowOfFile, _) = try load(definition)
        return (machine, workflowOfFile)
    }

    /// ``loadMachine(_:)``, with the substitutions the machine was compiled with.
    func load(_ definition: String) throws -> (StateMachine, WorkflowOfFile?, DefinitionSubstitutions) {
        let workflowOfFile = WorkflowOfFile.find(definition: definition)
        let substitutions: DefinitionSubstitutions
        do {
            substitutions = (workflowOfFile?.workflow.substitutions ?? DefinitionSubstitutions()).overridden(by: try given())
        } catch { Terminal.fail(error) }
        switch Terminal.loadDefinition(definition, substitutions: substitutions) {
        case .success(let machine): return (machine, workflowOfFile, substitutions)
        case .failure(let list):
            for d in list.diagnostics { Terminal.printError(d.formatted(file: definition)) }
            throw ExitCode(2)
        }
    }
}

/// The workflow of the repository's `.stepgate/stepgate.yaml` that names a definition file, found
/// by walking up from the file; what it says about substitutions, resources and buckets applies
/// to the file.
struct WorkflowOfFile {
    var workflow: WorkflowConfig
    /// The directory holding `.stepgate/`.
    var repositoryRoot: String

    /// Nil when the file is not under a `.stepgate/` whose stepgate.yaml names it. A configuration
    /// with errors is reported on stderr and not used.
    static func find(definition path: String) -> WorkflowOfFile? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var components = absolute.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        while let index = components.lastIndex(of: ".stepgate") {
            let root = components[..<index].joined(separator: "/")
            let relative = components[index...].joined(separator: "/")
            let configPath = (root.isEmpty ? "" : root) + "/" + RepositoryConfigLoader.path
            if FileManager.default.fileExists(atPath: configPath) {
                guard let text = try? Terminal.readText(configPath, what: "configuration file") else { return nil }
                let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: configPath)
                guard let config else {
                    let first = diagnostics.first { $0.severity == .error }
                    Terminal.printError(
                        "stepgate: warning: \(first?.formatted(file: configPath) ?? configPath); its substitutions, resources and buckets are not used")
                    return nil
                }
                return config.workflow(definedAt: relative).map { WorkflowOfFile(workflow: $0, repositoryRoot: root.isEmpty ? "/" : root) }
            }
            components.removeSubrange(index...)
        }
        return nil
    }
}

extension CLIFailure {
    /// `FILE:LINE:COL: MESSAGE` for a problem in a file the command line named.
    init(_ diagnostic: Diagnostic, file: String) {
        let at = diagnostic.location ?? SourceLocation(line: 1, column: 1)
        self.init(message: "\(file):\(at.line):\(at.column): \(diagnostic.message)")
    }
}

extension Terminal {
    /// Reads a YAML or JSON file into a located document; problems are one line naming the file.
    static func loadYAMLOrJSON(_ path: String, what: String) throws(CLIFailure) -> SourceDocument {
        let text = try readText(path, what: what)
        do { return try YAMLLoader.parseDefinition(text, fileName: path) } catch {
            throw CLIFailure(message: "\(path):\(error.location.line):\(error.location.column): \(error.message)")
        }
    }

    /// A definition file as it will run: parsed, its placeholders substituted (CloudFormation's
    /// pseudo parameters get local values unless given), validated and compiled. A placeholder
    /// left in a string other than a Resource stays as written, as AWS would take it.
    static func loadDefinition(_ path: String, substitutions: DefinitionSubstitutions) -> Result<StateMachine, DiagnosticList> {
        loadDocument(path).flatMap { StateMachineCompiler.load(substitutions.withPseudoParameters.apply(to: $0)) }
    }
}
