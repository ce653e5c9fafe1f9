public import StatesLanguage
internal import YAMLLoader

/// Why a file of a revision could not be read (a Git error, said in one line).
public struct RevisionReadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The files of one revision of a repository, read without a checkout. The Git layer provides it
/// (for a commit of a bare repository, quarantined objects included); tests may provide their own.
public protocol RevisionFiles {
    /// How the revision is named in messages (an abbreviated commit id).
    var label: String { get }
    /// The bytes of the file at `path` (from the repository root), or nil when there is none.
    func blob(at path: String) throws(RevisionReadError) -> [UInt8]?
    /// The paths of every file under `directory` (recursively), from the repository root.
    func files(under directory: String) throws(RevisionReadError) -> [String]
}

/// One diagnostic about one file, the file named as the user should see it (a path from the
/// repository root for files read from Git).
public struct FileDiagnostic: Sendable, Hashable {
    public var file: String
    public var diagnostic: Diagnostic

    public init(file: String, diagnostic: Diagnostic) {
        self.file = file
        self.diagnostic = diagnostic
    }

    public var isError: Bool { diagnostic.severity == .error }

    /// `FILE:LINE:COL: error: MESSAGE`.
    public var formatted: String { diagnostic.formatted(file: file) }
}

/// A revision's `.stepgate/stepgate.yaml` as a run reads it from the trusted side.
public enum TrustedConfiguration: Sendable, Equatable {
    case config(RepositoryConfig)
    /// The revision has no `.stepgate/stepgate.yaml`: nothing is triggered.
    case absent
    /// The configuration does not load (one located line); nothing is triggered.
    case invalid(String)
}

/// A workflow definition read from a revision and compiled.
public struct LoadedDefinition: Sendable {
    /// The path from the repository root.
    public var path: String
    /// The text as written (placeholders unsubstituted).
    public var text: String
    public var machine: StateMachine
    /// The placeholder values it was compiled with.
    public var substitutions: DefinitionSubstitutions = DefinitionSubstitutions()
}

/// Why a workflow's definition cannot be used, as one line.
public struct DefinitionUnusable: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case missing
        case invalid
        case unreadable
    }
    public var reason: Reason
    public var description: String
}

/// Everything stepgate reads from a repository's `.stepgate/` directory: the configuration, the
/// workflow definitions, and the validation of both, for files on disk and for revisions read
/// from Git. Hooks, the bot and the command line all read `.stepgate/` through here.
public enum StepgateDirectory {
    public static let directory = RepositoryConfigLoader.directory
    public static let configPath = RepositoryConfigLoader.path

    /// Whether a file name is a repository configuration (`stepgate.yaml` / `stepgate.yml`)
    /// rather than a workflow definition.
    public static func isRepositoryConfig(path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name == "stepgate.yaml" || name == "stepgate.yml"
    }

    static let notUTF8 = Diagnostic(.error, "the file is not UTF-8 text", at: [], location: SourceLocation(line: 1, column: 1))

    // MARK: - Text

    /// Every problem in a workflow definition's text (JSON or YAML by extension), its deploy-time
    /// placeholders substituted with `substitutions` (a Resource left with one is one diagnostic
    /// naming the key).
    public static func validateDefinition(
        text: String, file: String, substitutions: DefinitionSubstitutions = DefinitionSubstitutions()
    ) -> [Diagnostic] {
        do {
            let document = try YAMLLoader.parseDefinition(text, fileName: file)
            return DefinitionValidator.validate(document, substitutions: substitutions)
        } catch {
            return [error.diagnostic]
        }
    }

    /// Parses and validates a repository configuration, keeping its document so that later
    /// problems (a missing definition) can be located in it.
    public static func loadConfig(text: String, file: String) -> (
        config: RepositoryConfig?, document: SourceDocument?, diagnostics: [Diagnostic]
    ) {
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDefinition(text, fileName: file)
        } catch {
            return (nil, nil, [error.diagnostic])
        }
        let (config, diagnostics) = RepositoryConfigLoader.load(document: document)
        return (config, document, diagnostics)
    }

    /// Validates a file's text, choosing the configuration or the definition rules by its name.
    public static func validate(
        text: String, file: String, substitutions: DefinitionSubstitutions = DefinitionSubstitutions()
    ) -> [Diagnostic] {
        if isRepositoryConfig(path: file) { return loadConfig(text: text, file: file).diagnostics }
        return validateDefinition(text: text, file: file, substitutions: substitutions)
    }

    /// Validates one file's bytes.
    public static func validate(
        bytes: [UInt8], file: String, substitutions: DefinitionSubstitutions = DefinitionSubstitutions()
    ) -> [Diagnostic] {
        guard let text = String(validating: bytes, as: UTF8.self) else { return [notUTF8] }
        return validate(text: text, file: file, substitutions: substitutions)
    }

    /// A diagnostic at a workflow's `definition` member saying the file it names is missing.
    static func missingDefinition(_ workflow: WorkflowConfig, in document: SourceDocument?) -> Diagnostic {
        let memberPath: [PathComponent] = [.key("workflows"), .key(workflow.name), .key("definition")]
        return Diagnostic(
            .error, "workflow '\(workflow.name)': definition \(workflow.definitionPath) does not exist", at: memberPath,
            location: document?.sourceMap.valueLocation(memberPath))
    }

    // MARK: - A revision

    /// Validates the `.stepgate/` files of `revision`: the configuration (and that every workflow
    /// it names exists and validates) and the workflow definitions. With `only`, just those paths
    /// (the ones a push or a change touched) and, when any `.stepgate/` path is among them, the
    /// configuration with the definitions it names; without it, everything under `.stepgate/`.
    /// A definition a workflow names is validated with that workflow's `substitutions`.
    /// Every file checked is listed, in order, with its diagnostics (possibly none).
    public static func validate(_ revision: some RevisionFiles, only: Set<String>? = nil) throws(RevisionReadError)
        -> [(file: String, diagnostics: [Diagnostic])]
    {
        var files: [(file: String, diagnostics: [Diagnostic])] = []
        var checked = Set<String>()
        var config: RepositoryConfig?
        var definitions: [String]
        if let only {
            let touched = only.filter { $0.hasPrefix(directory) }
            if touched.isEmpty { return [] }
            definitions = touched.filter { RepositoryConfigLoader.isWorkflowDefinition(path: $0) }.sorted()
        } else {
            definitions = try revision.files(under: ".stepgate/workflows").filter {
                RepositoryConfigLoader.isWorkflowDefinition(path: $0)
            }.sorted()
        }
        if let bytes = try revision.blob(at: configPath) {
            var diagnostics: [Diagnostic] = []
            if let text = String(validating: bytes, as: UTF8.self) {
                let loaded = loadConfig(text: text, file: configPath)
                diagnostics = loaded.diagnostics
                config = loaded.config
                for workflow in loaded.config?.workflows ?? [] {
                    if try revision.blob(at: workflow.definitionPath) == nil {
                        diagnostics.append(missingDefinition(workflow, in: loaded.document))
                    } else if !definitions.contains(workflow.definitionPath) {
                        definitions.append(workflow.definitionPath)
                    }
                }
            } else {
                diagnostics = [notUTF8]
            }
            files.append((configPath, diagnostics))
            checked.insert(configPath)
        }
        for path in definitions where !checked.contains(path) {
            checked.insert(path)
            guard let bytes = try revision.blob(at: path) else { continue }  // deleted by the push or change
            let substitutions = config?.workflow(definedAt: path)?.substitutions ?? DefinitionSubstitutions()
            files.append((path, validate(bytes: bytes, file: path, substitutions: substitutions)))
        }
        return files
    }

    /// The configuration of `revision`, as a run reads it from the trusted side.
    public static func configuration(_ revision: some RevisionFiles) throws(RevisionReadError) -> TrustedConfiguration {
        guard let bytes = try revision.blob(at: configPath) else { return .absent }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .invalid(notUTF8.formatted(file: configPath))
        }
        let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: configPath)
        guard let config else {
            let first = diagnostics.first { $0.severity == .error }
            let more = diagnostics.filter { $0.severity == .error }.count - 1
            return .invalid(
                (first?.formatted(file: configPath) ?? "\(configPath) is invalid") + (more > 0 ? " (and \(more) more)" : ""))
        }
        return .config(config)
    }

    /// The definition `workflow` names, read from `revision`, its placeholders substituted (the
    /// workflow's `substitutions`, then `overrides`), validated and compiled.
    public static func definition(
        of workflow: WorkflowConfig, in revision: some RevisionFiles, overrides: DefinitionSubstitutions = DefinitionSubstitutions()
    ) -> Result<LoadedDefinition, DefinitionUnusable> {
        let path = workflow.definitionPath
        let bytes: [UInt8]?
        do { bytes = try revision.blob(at: path) } catch {
            return .failure(DefinitionUnusable(reason: .unreadable, description: "cannot read \(path): \(error.description)"))
        }
        guard let bytes else {
            return .failure(DefinitionUnusable(reason: .missing, description: "\(path) does not exist at \(revision.label)"))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(DefinitionUnusable(reason: .invalid, description: notUTF8.formatted(file: path)))
        }
        return compile(text: text, path: path, substitutions: workflow.substitutions.overridden(by: overrides))
    }

    /// Parses (JSON or YAML by the path's extension), substitutes deploy-time placeholders
    /// (CloudFormation's pseudo parameters get local values unless given), validates and compiles a
    /// definition's text; the failure names the first problem at `FILE:LINE:COL`.
    public static func compile(
        text: String, path: String, substitutions: DefinitionSubstitutions = DefinitionSubstitutions()
    ) -> Result<LoadedDefinition, DefinitionUnusable> {
        let document: SourceDocument
        do { document = try YAMLLoader.parseDefinition(text, fileName: path) } catch {
            return .failure(DefinitionUnusable(reason: .invalid, description: error.diagnostic.formatted(file: path)))
        }
        switch StateMachineCompiler.load(substitutions.withPseudoParameters.apply(to: document)) {
        case .success(let machine):
            return .success(LoadedDefinition(path: path, text: text, machine: machine, substitutions: substitutions))
        case .failure(let list):
            let errors = list.diagnostics.filter { $0.severity == .error }
            let first = errors.first ?? list.diagnostics.first
            let more = errors.count > 1 ? " (and \(errors.count - 1) more)" : ""
            return .failure(
                DefinitionUnusable(
                    reason: .invalid, description: (first?.formatted(file: path) ?? "\(path) is invalid") + more))
        }
    }
}
