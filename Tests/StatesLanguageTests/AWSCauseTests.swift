import Foundation
import Testing

@testable import StatesLanguage

/// Where the corpus records AWS's own cause for a failed execution (in a case's notes, with the
/// input masked), the engine gives the same words, event id included.
@Suite struct AWSCauseTests {
    struct Recorded: Sendable, CustomTestStringConvertible {
        var name: String
        var definition: JSON
        var input: JSON
        var error: String
        var cause: String
        var testDescription: String { name }
    }

    static func recorded() throws -> [Recorded] {
        var out: [Recorded] = []
        for url in try ValidationCorpusTests.caseFiles("cases") {
            let c = try ValidationCorpusTests.load(url)
            guard c["expect"]?["status"] == "FAILED", c["expect"]?["cause"] == nil,
                let note = c["notes"]?.arrayValue?.first?.stringValue, note.hasPrefix("AWS cause text (not compared): "),
                let definition = c["definition"], let input = c["input"], let error = c["expect"]?["error"]?.stringValue
            else { continue }
            let cause = String(note.dropFirst("AWS cause text (not compared): ".count))
            guard !cause.hasPrefix("<") else { continue }
            out.append(Recorded(name: url.lastPathComponent, definition: definition, input: input, error: error, cause: cause))
        }
        return out
    }

    /// The recorded cause as a pattern: AWS's masked inputs (`<json-input:1>`) match anything.
    static func matches(_ ours: String, _ aws: String) -> Bool {
        let parts = aws.components(separatedBy: "<json-input:1>")
        var rest = Substring(ours)
        for (i, part) in parts.enumerated() {
            if i == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if i == parts.count - 1 {
                return rest.hasSuffix(part)
            } else {
                guard let r = rest.range(of: part) else { return false }
                rest = rest[r.upperBound...]
            }
        }
        return rest.isEmpty
    }

    @Test func theCorpusRecordsCauses() throws {
        #expect(try Self.recorded().count >= 50)
    }

    @Test(arguments: try recorded())
    func causesAreWordedAsAWSWordsThem(_ case_: Recorded) async throws {
        let machine = try StateMachineCompiler.compile(case_.definition)
        let result = await Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "e", name: "e"),
            environment: ExecutionEnvironment(clock: VirtualClock())
        ).run(input: case_.input)
        #expect(result.error == case_.error)
        #expect(Self.matches(result.cause ?? "", case_.cause), "ours: \(result.cause ?? "nil")\nAWS:  \(case_.cause)")
    }
}
