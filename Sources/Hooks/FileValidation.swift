public import Config
public import Git
public import StatesLanguage
internal import YAMLLoader

/// One diagnostic about one file, the file named as the user should see it (a repo-relative
/// path for files read from git).
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

/// Validates `.stepgate/` files, from disk or from a commit, without running anything.
public enum StepgateFiles {
    /// Whether a file name is a repository configuration (`stepgate.yaml` / `stepgate.yml`)
    /// rather than a workflow definition.
    public static func isRepositoryConfig(path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name == "stepgate.yaml" || name == "stepgate.yml"
    }

    /// Decodes a blob as UTF-8 text, or explains why it is not.
    static func text(_ bytes: [UInt8]) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    static let notUTF8 = Diagnostic(.error, "the file is not UTF-8 text", at: [], location: SourceLocation(line: 1, column: 1))

    /// Every problem in a workflow definition's text (JSON or YAML by extension).
    public static func validateDefinition(text: String, file: String) -> [Diagnostic] {
        do {
            let document = try YAMLLoader.parseDefinition(text, fileName: file)
            return DefinitionValidator.validate(document)
        } catch {
            return [error.diagnostic]
        }
    }

    /// Parses and validates a repository configuration, keeping its document so that later
    /// problems (a missing definition) can be located in it.
    public static func loadConfig(text: String, file: String) -> (config: RepositoryConfig?, document: SourceDocument?, diagnostics: [Diagnostic]) {
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDefinition(text, fileName: file)
        } catch {
            return (nil, nil, [error.diagnostic])
        }
        let (config, diagnostics) = RepositoryConfigLoader.load(document: document)
        return (config, document, diagnostics)
    }

    /// A diagnostic at a workflow's `definition` member saying the file it names is missing.
    static func missingDefinition(_ workflow: WorkflowConfig, in document: SourceDocument?, shownAs path: String) -> Diagnostic {
        let memberPath: [PathComponent] = [.key("workflows"), .key(workflow.name), .key("definition")]
        return Diagnostic(
            .error, "workflow '\(workflow.name)': definition \(path) does not exist", at: memberPath,
            location: document?.sourceMap.valueLocation(memberPath))
    }

    /// Validates a file's text, choosing the configuration or the definition rules by its name.
    public static func validate(text: String, file: String) -> [Diagnostic] {
        if isRepositoryConfig(path: file) { return loadConfig(text: text, file: file).diagnostics }
        return validateDefinition(text: text, file: file)
    }

    /// Validates one blob read from git.
    static func validate(bytes: [UInt8], file: String) -> [Diagnostic] {
        guard let text = text(bytes) else { return [notUTF8] }
        return validate(text: text, file: file)
    }
}

/// `stepgate validate --repo`: everything under `.stepgate/` at one commit.
public enum RepositoryValidator {
    public struct Report: Sendable {
        /// Every file checked, in order, with its diagnostics (possibly none).
        public var files: [(file: String, diagnostics: [Diagnostic])]
        public var isValid: Bool { !files.contains { $0.diagnostics.contains { $0.severity == .error } } }
        public var diagnostics: [FileDiagnostic] {
            files.flatMap { f in f.diagnostics.map { FileDiagnostic(file: f.file, diagnostic: $0) } }
        }
    }

    /// Validates the configuration at `.stepgate/stepgate.yaml` (when there is one), checks that
    /// every workflow it names exists and validates, and validates every workflow definition
    /// under `.stepgate/workflows/`, all read from `commit` (no checkout).
    public static func validate(repository: Repository, commit: ObjectID) throws(GitError) -> Report {
        var files: [(file: String, diagnostics: [Diagnostic])] = []
        var checked = Set<String>()
        let configPath = RepositoryConfigLoader.path
        if let bytes = try repository.blob(at: configPath, commit: commit) {
            var diagnostics: [Diagnostic] = []
            switch StepgateFiles.text(bytes) {
            case nil: diagnostics = [StepgateFiles.notUTF8]
            case let text?:
                let loaded = StepgateFiles.loadConfig(text: text, file: configPath)
                diagnostics = loaded.diagnostics
                for workflow in loaded.config?.workflows ?? [] {
                    if try repository.blob(at: workflow.definitionPath, commit: commit) == nil {
                        diagnostics.append(
                            StepgateFiles.missingDefinition(workflow, in: loaded.document, shownAs: workflow.definitionPath))
                    }
                }
            }
            files.append((configPath, diagnostics))
            checked.insert(configPath)
        }
        var definitions = try repository.files(under: ".stepgate/workflows", commit: commit)
            .filter { RepositoryConfigLoader.isWorkflowDefinition(path: $0) }
        // Definitions a workflow names outside the usual pattern are still checked.
        definitions.sort()
        for path in definitions where !checked.contains(path) {
            checked.insert(path)
            guard let bytes = try repository.blob(at: path, commit: commit) else { continue }
            files.append((path, StepgateFiles.validate(bytes: bytes, file: path)))
        }
        return Report(files: files)
    }
}
