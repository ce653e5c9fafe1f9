import ArgumentParser
import Config
import Foundation
import Runtime
import StatesLanguage

/// `--inspection-level`, as TestState spells it.
enum InspectionLevelArgument: String, ExpressibleByArgument, CaseIterable {
    case INFO, DEBUG, TRACE

    var level: StateTestResult.InspectionLevel { StateTestResult.InspectionLevel(rawValue: rawValue) ?? .info }
}

struct TestStateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-state",
        abstract: "Run one state of a definition alone, as AWS's TestState API does.",
        discussion: """
            The state (at any depth: inside a Parallel branch or a Map processor too) runs once on the \
            input: a failure is not retried (status RETRIABLE says a retrier would), a matching catcher \
            gives status CAUGHT_ERROR and its output, Wait states do not wait. --inspection-level INFO \
            shows the status, output or error and the next state; DEBUG adds the data after each \
            processing step (input, afterInputPath, afterParameters or afterArguments, result, \
            afterResultSelector, afterResultPath) and the variables; TRACE adds the task's request and \
            response. Tasks run as in stepgate run: mocks, mapped resources, stepgate's own resources. \
            Exit status 0 for SUCCEEDED and CAUGHT_ERROR, 1 for FAILED and RETRIABLE, 2 for bad input.
            """)

    @Option(help: "The definition file (*.asl.json or *.asl.yaml).")
    var definition: String

    @Option(help: "The name of the state to run.")
    var state: String

    @Option(help: "The state's input as JSON text (default {}).")
    var input: String?

    @Option(help: "Workflow variables the state sees, as a JSON object.")
    var variables: String?

    @Option(help: "INFO, DEBUG or TRACE.")
    var inspectionLevel: InspectionLevelArgument = .INFO

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .json

    @OptionGroup(title: "Deploy-time placeholders")
    var placeholders: SubstitutionOptions

    @OptionGroup(title: "AWS resources and buckets run locally")
    var local: LocalRunOptions

    func validate() throws {
        try local.validateOptions()
    }

    func run() async throws {
        let (machine, workflowOfFile) = try placeholders.loadMachine(definition)
        let inputValue: JSON
        var variableValues: [String: JSON] = [:]
        do throws(CLIFailure) {
            inputValue = try input.map { (text) throws(CLIFailure) in try Terminal.parseInput(text, origin: "--input") } ?? .object(JSONObject())
            if let variables {
                guard case .object(let o) = try Terminal.parseInput(variables, origin: "--variables") else {
                    throw CLIFailure(message: "--variables must be a JSON object")
                }
                for (k, v) in o.pairs { variableValues[k] = v }
            }
        } catch { Terminal.fail(error) }

        let cwd = FileManager.default.currentDirectoryPath
        let context = TriggerContext(kind: .manual, repository: RunCommand.repositoryName(cwd), workflow: DefinitionSource.name(ofFile: definition))
        let inner = StepgateTaskExecutor(configuration: .init(workspace: .directory(cwd), context: context)).redacting()
        let environment: (tasks: any TaskExecutor, objects: LocalObjectStore)
        do { environment = try local.environment(definition: definition, workflow: workflowOfFile, inner: inner) } catch {
            Terminal.fail(error)
        }
        let id = UUID().uuidString.lowercased()
        let interpreter = Interpreter(
            machine: machine,
            identity: ExecutionIdentity(
                executionID: "stepgate:local:execution:\(id)", name: id, stateMachineName: URL(fileURLWithPath: definition).lastPathComponent),
            environment: ExecutionEnvironment(clock: VirtualClock(start: Date()), tasks: environment.tasks, objects: environment.objects))
        guard let result = await interpreter.testState(named: state, input: inputValue, variables: variableValues) else {
            Terminal.fail(CLIFailure(message: "\(definition): no state named \"\(state)\""))
        }
        let object = result.json(level: inspectionLevel.level)
        switch format {
        case .json: writeStdout(object.serialized + "\n")
        case .text: writeStdout(Self.text(object))
        }
        if result.status == .failed || result.status == .retriable { throw ExitCode(1) }
    }

    /// One `name: value` line per member, values as compact JSON.
    static func text(_ object: JSON) -> String {
        guard case .object(let o) = object else { return object.serialized + "\n" }
        var lines: [String] = []
        for (k, v) in o.pairs {
            if case .object(let inner) = v, k == "inspectionData" {
                lines.append("inspectionData:")
                for (ik, iv) in inner.pairs { lines.append("  \(ik): \(iv.serialized)") }
            } else {
                lines.append("\(k): \(v.stringValue ?? v.serialized)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
