import ArgumentParser
import StatesLanguage

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate workflow definitions (ASL, JSON or YAML).",
        discussion: "Exit status 0 when every file is valid, 1 otherwise. Text diagnostics read FILE:LINE:COL: error: MESSAGE.")

    @Argument(help: "Definition files (*.asl.json, *.asl.yaml).")
    var files: [String]

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() async throws {
        var allValid = true
        var reports: [JSON] = []
        var lines: [String] = []
        for file in files {
            let diagnostics: [Diagnostic]
            switch Terminal.loadDocument(file) {
            case .success(let document): diagnostics = DefinitionValidator.validate(document)
            case .failure(let list): diagnostics = list.diagnostics
            }
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
                writeStdout(files.map { "\($0): valid\n" }.joined())
            } else {
                writeStdout(lines.joined(separator: "\n") + "\n")
            }
        }
        if !allValid { throw ExitCode(1) }
    }
}
