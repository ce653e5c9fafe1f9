import ArgumentParser
import Foundation
import StatesLanguage

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workflow definition locally.",
        discussion: """
            Exit status 0 when the execution succeeds, 1 when it fails, 2 when the definition or the \
            input is invalid. With --format json, stdout is exactly one JSON object: \
            {"status":"SUCCEEDED","output":...} or {"status":"FAILED","error":"...","cause":"..."}.
            """)

    @Option(help: "The definition file (*.asl.json or *.asl.yaml).")
    var definition: String

    @Option(help: "The execution input as JSON text.")
    var input: String?

    @Option(help: "A file holding the execution input as JSON.")
    var inputFile: String?

    @Option(help: "Output format: text (the history, readably) or json (one result object).")
    var format: OutputFormat = .text

    @Flag(help: "Run Wait states, retry intervals and timeouts on a virtual clock that never sleeps.")
    var virtualTime = false

    func validate() throws {
        if input != nil && inputFile != nil {
            throw ValidationError("give the input with --input or --input-file, not both")
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
        let inputValue: JSON
        do { inputValue = try readInput() } catch { Terminal.fail(error) }

        let id = UUID().uuidString.lowercased()
        let identity = ExecutionIdentity(
            executionID: "stepgate:local:execution:\(id)", name: id,
            stateMachineName: URL(fileURLWithPath: definition).lastPathComponent)
        let environment = ExecutionEnvironment(
            clock: virtualTime ? VirtualClock(start: Date()) : SystemClock(), tasks: NoTaskExecutor())
        let started = Date()
        let result = await Interpreter(machine: machine, identity: identity, environment: environment).run(input: inputValue)
        switch format {
        case .json:
            writeStdout(result.json.serialized + "\n")
        case .text:
            writeStdout(HistoryRenderer.render(result, executionName: id, wallTime: Date().timeIntervalSince(started)))
        }
        if result.status != .succeeded { throw ExitCode(1) }
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
        do { return try JSONParser.parse(text) } catch {
            throw CLIFailure(message: "\(origin):\(error.location.line):\(error.location.column): the input is not valid JSON: \(error.message)")
        }
    }
}
