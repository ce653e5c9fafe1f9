import Foundation
import Testing

@testable import StatesLanguage

/// The AWS-recorded conformance corpus: every validation case must get AWS's verdict, and
/// every definition of the execution cases (all accepted by AWS) must validate cleanly.
@Suite struct ValidationCorpusTests {
    /// `../shared/conformance/asl`, relative to the repository root.
    static let corpusDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // StatesLanguageTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("../shared/conformance/asl")
        .standardizedFileURL

    /// Cases where the recorded verdict comes from the community asl-validator, not AWS, and
    /// AWS's documented rule says otherwise. Each entry says why.
    static let knownDisagreements: [String: String] = [:]

    static func caseFiles(_ sub: String) throws -> [URL] {
        let dir = corpusDirectory.appendingPathComponent(sub)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        return names.filter { $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func load(_ url: URL) throws -> JSON {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try JSONParser.parse(text)
    }

    @Test func corpusIsPresent() throws {
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: Self.corpusDirectory.path, isDirectory: &isDir)
        #expect(exists && isDir.boolValue, "conformance corpus missing at \(Self.corpusDirectory.path)")
    }

    @Test func validationCases() throws {
        let files = try Self.caseFiles("invalid")
        #expect(files.count >= 177, "expected the 177 validation cases, found \(files.count)")
        var passed = 0
        var disagreements = 0
        var failures: [String] = []
        for url in files {
            let name = url.lastPathComponent
            let c = try Self.load(url)
            let expectValid = c["expect"]?.stringValue == "VALID"
            let diagnostics: [Diagnostic]
            if let definition = c["definition"] {
                // Re-parse the definition's text so the located API is exercised too.
                let text = definition.prettyPrinted()
                diagnostics = DefinitionValidator.validate(text: text, fileName: name)
            } else if let text = c["definition_text"]?.stringValue {
                diagnostics = DefinitionValidator.validate(text: text, fileName: name)
            } else {
                failures.append("\(name): no definition in the case")
                continue
            }
            let errors = diagnostics.filter { $0.severity == .error }
            let gotValid = errors.isEmpty
            if let why = Self.knownDisagreements[name] {
                // Documented on purpose: must still disagree in the documented way.
                if gotValid == expectValid { failures.append("\(name): listed as a known disagreement (\(why)) but now agrees; remove it from the list") }
                disagreements += 1
            } else if gotValid == expectValid {
                passed += 1
            } else if expectValid {
                failures.append("\(name): expected VALID, got \(errors.map { $0.formatted(file: "") })")
            } else {
                failures.append("\(name): expected INVALID, got no errors")
            }
        }
        print("validation corpus: \(passed)/\(files.count) cases get the recorded verdict; \(disagreements) documented disagreement(s) with asl-validator-sourced cases")
        for f in failures { print("  FAIL \(f)") }
        #expect(failures.isEmpty, "\(failures.count) validation case(s) disagree:\n\(failures.joined(separator: "\n"))")
    }

    @Test func executionCaseDefinitionsAreValid() throws {
        let files = try Self.caseFiles("cases")
        #expect(files.count >= 845, "expected the 845 execution cases, found \(files.count)")
        var clean = 0
        var failures: [String] = []
        for url in files {
            let c = try Self.load(url)
            guard let definition = c["definition"] else {
                failures.append("\(url.lastPathComponent): no definition")
                continue
            }
            let errors = DefinitionValidator.validate(definition).filter { $0.severity == .error }
            if errors.isEmpty {
                clean += 1
            } else {
                failures.append("\(url.lastPathComponent): \(errors.map(\.message))")
            }
        }
        print("execution corpus: \(clean)/\(files.count) definitions validate with zero errors")
        for f in failures.prefix(60) { print("  FAIL \(f)") }
        #expect(failures.isEmpty, "\(failures.count) AWS-accepted definition(s) were rejected")
    }
}
