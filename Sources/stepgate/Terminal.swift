import Foundation
import StatesLanguage
import YAMLLoader

/// A failure the CLI reports as one line on stderr, with an exit code.
struct CLIFailure: Error {
    var message: String
    var exitCode: Int32 = 2
}

enum Terminal {
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Prints a one-line error and exits: the only way commands report bad input.
    static func fail(_ failure: CLIFailure) -> Never {
        printError("stepgate: error: \(failure.message)")
        exit(failure.exitCode)
    }

    /// Reads a text file; unreadable or non-UTF-8 files become one clear line.
    static func readText(_ path: String, what: String = "file") throws(CLIFailure) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIFailure(message: "\(path): no such \(what)")
        }
        if isDirectory.boolValue { throw CLIFailure(message: "\(path): is a directory, not a \(what)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure(message: "\(path): cannot read the \(what) (permission denied?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure(message: "\(path): the \(what) is not UTF-8 text")
        }
        return text
    }

    /// Parses execution input given as JSON text; `origin` names where it came from (`--input` or a file).
    static func parseInput(_ text: String, origin: String) throws(CLIFailure) -> JSON {
        do { return try JSONParser.parse(text) } catch {
            throw CLIFailure(
                message: "\(origin):\(error.location.line):\(error.location.column): the input is not valid JSON: \(error.message)")
        }
    }

    /// Reads and parses a definition file (JSON or YAML) with source positions.
    static func loadDocument(_ path: String) -> Result<SourceDocument, DiagnosticList> {
        let text: String
        do { text = try readText(path, what: "definition file") } catch {
            return .failure(DiagnosticList([Diagnostic(.error, error.message, at: [], location: SourceLocation(line: 1, column: 1))]))
        }
        do { return .success(try YAMLLoader.parseDefinition(text, fileName: path)) } catch {
            return .failure(DiagnosticList([Diagnostic(.error, error.message, at: [], location: error.location)]))
        }
    }

    /// Parses, validates and compiles a definition file; any problem becomes located diagnostics.
    static func loadDefinition(_ path: String) -> Result<StateMachine, DiagnosticList> {
        loadDocument(path).flatMap(StateMachineCompiler.load)
    }
}

/// Writes stdout in one piece (JSON output must be exactly one object).
func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
