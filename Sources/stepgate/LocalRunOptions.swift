import ArgumentParser
import Config
import Foundation
import Runtime
import StatesLanguage

/// How a definition's AWS resources and S3 buckets are served when it runs here: the workflow's
/// `resources` and `buckets` in stepgate.yaml, then these options over them.
struct LocalRunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A YAML or JSON file mapping AWS Resource ARNs (or patterns) to targets, as a workflow's resources.", valueName: "FILE"))
    var resources: String?

    @Option(help: ArgumentHelp("AWS Step Functions Local's MockConfigFile: Task states answered with mocked responses.", valueName: "FILE"))
    var mock: String?

    @Option(help: "The test case of --mock to run.")
    var testCase: String?

    @Option(help: "The state machine of --mock (default: the only one, else the workflow's name).")
    var stateMachine: String?

    @Option(
        name: .customLong("bucket"),
        help: ArgumentHelp("An S3 bucket of ItemReader/ResultWriter as a local directory, NAME=DIR (repeatable).", valueName: "NAME=DIR"))
    var bucket: [String] = []

    func validateOptions() throws {
        if mock != nil && testCase == nil { throw ValidationError("--mock needs --test-case") }
        if testCase != nil && mock == nil { throw ValidationError("--test-case needs --mock") }
        if stateMachine != nil && mock == nil { throw ValidationError("--state-machine needs --mock") }
    }

    /// What a local run of `definition` adds to its workflow's own: the resource map (`--resources`
    /// winning over the workflow's `resources`), the mocked responses of the test case, and the
    /// buckets (the workflow's, then `--bucket`), as the front door takes them.
    func localRun(
        definition: String, workflow: WorkflowOfFile?, substitutions: DefinitionSubstitutions
    ) throws(CLIFailure) -> LocalRun {
        var map = workflow?.workflow.resources ?? ResourceMap()
        if let resources {
            let document = try Terminal.loadYAMLOrJSON(resources, what: "resources file")
            let (loaded, diagnostics) = RepositoryConfigLoader.loadResources(document: document)
            guard let loaded else { throw CLIFailure(diagnostics[0], file: resources) }
            map = loaded.merged(with: map)
        }
        var mocks: [String: MockedResponse] = [:]
        if let mock, let testCase {
            let document = try Terminal.loadYAMLOrJSON(mock, what: "mock configuration")
            let (configuration, diagnostics) = MockConfiguration.load(document)
            guard let configuration else { throw CLIFailure(diagnostics[0], file: mock) }
            let name =
                stateMachine
                ?? (configuration.stateMachines.count == 1 ? nil : workflow?.workflow.name ?? DefinitionSource.name(ofFile: definition))
            do { mocks = try configuration.testCase(testCase, stateMachine: name) } catch {
                throw CLIFailure(message: "\(mock): \(error.message)")
            }
        }
        var buckets: [String: String] = [:]
        if let workflow {
            for (name, directory) in workflow.workflow.buckets { buckets[name] = workflow.repositoryRoot + "/" + directory }
        }
        for pair in bucket {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex, pair.index(after: eq) != pair.endIndex else {
                throw CLIFailure(message: "--bucket \(pair): write NAME=DIRECTORY")
            }
            buckets[String(pair[..<eq])] = URL(fileURLWithPath: String(pair[pair.index(after: eq)...])).standardizedFileURL.path
        }
        return LocalRun(substitutions: substitutions, resources: map, mocks: mocks, buckets: buckets)
    }

    /// The task executor and buckets of a local run of `definition` outside the front door
    /// (`test-state`): mocks first, then mapped resources, then stepgate's own resources through `inner`.
    func environment(
        definition: String, workflow: WorkflowOfFile?, inner: any TaskExecutor
    ) throws(CLIFailure) -> (tasks: any TaskExecutor, objects: LocalObjectStore) {
        let local = try localRun(definition: definition, workflow: workflow, substitutions: DefinitionSubstitutions())
        return (LocalResourceExecutor(resources: local.resources, mocks: local.mocks, inner: inner), LocalObjectStore(buckets: local.buckets))
    }
}
