import Foundation
import Testing

@testable import StatesLanguage

/// Runs the AWS-recorded corpus cases of categories intrinsics, pass-paths and variables whose machine has only
/// Pass, Succeed and Fail states in one linear flow, through a test-only interpreter built from the
/// expression pieces: InputPath → Parameters → ResultPath → OutputPath.
enum ExpressionCorpus {
    static var casesDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["ASL_CORPUS_CASES"] { return URL(fileURLWithPath: env) }
        // Tests/StatesLanguageTests/<file> → the worktree → its parent holds shared/.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/conformance/asl/cases")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var definition: JSON
        var input: JSON
        var expect: JSON
        var testDescription: String { name }
    }

    static func load() -> [Case] {
        let dir = casesDirectory
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        var out: [Case] = []
        for f in files.sorted() where f.hasSuffix(".json") {
            guard f.hasPrefix("intrinsics__") || f.hasPrefix("pass-paths__") || f.hasPrefix("variables__"),
                let data = FileManager.default.contents(atPath: dir.appendingPathComponent(f).path),
                let json = try? JSONParser.parse(bytes: Array(data)),
                let def = json["definition"], let input = json["input"], let expect = json["expect"]
            else { continue }
            out.append(Case(name: String(f.dropLast(5)), definition: def, input: input, expect: expect))
        }
        return out
    }

    /// Whether the machine is only Pass/Succeed/Fail states in one linear JSONPath flow.
    static func isLinear(_ def: JSON) -> Bool {
        guard def["QueryLanguage"]?.stringValue != "JSONata", let states = def["States"]?.objectValue else {
            return false
        }
        for (_, s) in states.pairs {
            guard let type = s["Type"]?.stringValue, ["Pass", "Succeed", "Fail"].contains(type) else { return false }
            if s["QueryLanguage"]?.stringValue == "JSONata" { return false }
        }
        return true
    }

    enum Outcome: Equatable {
        case succeeded(JSON)
        case failed(String?)
    }

    static func run(_ def: JSON, input: JSON) -> Outcome {
        guard let states = def["States"]?.objectValue, var name = def["StartAt"]?.stringValue else {
            return .failed("bad definition")
        }
        var data = input
        var variables: [String: JSON] = [:]
        let machineName = "Machine"
        for _ in 0..<100 {
            guard let state = states[name] else { return .failed("no state \(name)") }
            let context: JSON = [
                "Execution": [
                    "Id": .string("arn:aws:states:us-east-1:000000000000:execution:\(machineName):exec"),
                    "Input": input, "Name": "exec", "RoleArn": "arn:aws:iam::000000000000:role/r",
                    "StartTime": "2024-01-01T00:00:00.000Z",
                ],
                "State": ["EnteredTime": "2024-01-01T00:00:00.000Z", "Name": .string(name), "RetryCount": 0],
                "StateMachine": [
                    "Id": .string("arn:aws:states:us-east-1:000000000000:stateMachine:\(machineName)"), "Name": .string(machineName),
                ],
            ]
            func scope(_ v: JSON) -> EvaluationScope {
                EvaluationScope(input: v, context: context, variables: variables, random: { 4 })
            }
            do throws(ExecutionError) {
                let type = state["Type"]?.stringValue ?? ""
                // InputPath
                var effective = data
                if let ip = state["InputPath"] {
                    if ip.isNull {
                        effective = .object(JSONObject())
                    } else {
                        let path = try compile { () throws(PathSyntaxError) in try JSONPath.parse(ip.stringValue ?? "") }
                        guard let v = path.evaluate(in: scope(data)) else {
                            throw .runtime("Invalid path '\(path)' : No results for path")
                        }
                        effective = v
                    }
                }
                if type == "Fail" {
                    var error = state["Error"]?.stringValue
                    if let ep = state["ErrorPath"]?.stringValue {
                        error = try evaluateString(ep, scope(effective))
                    }
                    return .failed(error)
                }
                var result = effective
                var pendingAssign: JSONObject? = nil
                if type == "Pass" {
                    if let r = state["Result"] {
                        result = r
                    } else if let p = state["Parameters"] {
                        let t = try compile { () throws(PathSyntaxError) in try PayloadTemplate(p) }
                        result = try t.evaluate(in: scope(effective))
                    }
                    if let a = state["Assign"] {
                        let t = try compile { () throws(PathSyntaxError) in try PayloadTemplate(a) }
                        if case .object(let o) = try t.evaluate(in: scope(result)) { pendingAssign = o }
                    }
                    // ResultPath
                    if let rp = state["ResultPath"] {
                        if rp.isNull {
                            result = data
                        } else {
                            let path = try compile { () throws(PathSyntaxError) in
                                try ReferencePath.parse(rp.stringValue ?? "")
                            }
                            result = try path.assign(result, into: data)
                        }
                    }
                }
                // OutputPath
                if let op = state["OutputPath"] {
                    if op.isNull {
                        result = .object(JSONObject())
                    } else {
                        let path = try compile { () throws(PathSyntaxError) in try JSONPath.parse(op.stringValue ?? "") }
                        guard let v = path.evaluate(in: scope(result)) else {
                            throw .runtime("Invalid path '\(path)' : No results for path")
                        }
                        result = v
                    }
                }
                data = result
                // Assign takes effect after OutputPath, which still sees the old values.
                if let pendingAssign { for (k, v) in pendingAssign.pairs { variables[k] = v } }
                if type == "Succeed" || state["End"]?.boolValue == true { return .succeeded(data) }
                guard let next = state["Next"]?.stringValue else { return .failed("no Next") }
                name = next
            } catch {
                return .failed(error.error)
            }
        }
        return .failed("too many transitions")
    }

    static func compile<T>(_ body: () throws(PathSyntaxError) -> T) throws(ExecutionError) -> T {
        do { return try body() } catch { throw ExecutionError("States.Runtime", "definition: \(error.message)") }
    }

    static func evaluateString(_ text: String, _ scope: EvaluationScope) throws(ExecutionError) -> String? {
        if IntrinsicExpression.looksLikeCall(text) {
            let f = try compile { () throws(PathSyntaxError) in try IntrinsicExpression.parse(text) }
            return try f.evaluate(in: scope).stringValue
        }
        let p = try compile { () throws(PathSyntaxError) in try JSONPath.parse(text) }
        return p.evaluate(in: scope)?.stringValue
    }

    static func expected(_ expect: JSON) -> Outcome {
        if expect["status"]?.stringValue == "SUCCEEDED" { return .succeeded(expect["output"] ?? .null) }
        return .failed(expect["error"]?.stringValue)
    }
}

@Suite struct ExpressionCorpusTests {
    static let cases = ExpressionCorpus.load().filter { ExpressionCorpus.isLinear($0.definition) }

    @Test func corpusIsPresent() {
        #expect(Self.cases.count > 100, "corpus not found at \(ExpressionCorpus.casesDirectory.path)")
    }

    @Test(arguments: cases)
    func corpusCase(_ c: ExpressionCorpus.Case) {
        let got = ExpressionCorpus.run(c.definition, input: c.input)
        #expect(got == ExpressionCorpus.expected(c.expect))
    }

    @Test func tally() {
        let all = ExpressionCorpus.load()
        let linear = all.filter { ExpressionCorpus.isLinear($0.definition) }
        var passed = 0
        var failures: [String] = []
        for c in linear {
            if ExpressionCorpus.run(c.definition, input: c.input) == ExpressionCorpus.expected(c.expect) {
                passed += 1
            } else {
                failures.append(c.name)
            }
        }
        print("EXPRESSION CORPUS TALLY: \(passed)/\(linear.count) linear cases passed (\(all.count) in intrinsics+pass-paths+variables); failing: \(failures)")
        #expect(failures.isEmpty)
    }
}

/// The validation corpus's verdicts on payload templates: what AWS rejected must not compile.
@Suite struct ExpressionValidationCorpusTests {
    static func definition(_ name: String) -> JSON? {
        let url = ExpressionCorpus.casesDirectory.deletingLastPathComponent().appendingPathComponent("invalid/\(name).json")
        guard let data = FileManager.default.contents(atPath: url.path),
            let json = try? JSONParser.parse(bytes: Array(data))
        else { return nil }
        return json["definition"]
    }

    static func templates(_ def: JSON) -> [JSON] {
        var out: [JSON] = []
        for (_, s) in def["States"]?.objectValue?.pairs.map({ ($0, $1) }) ?? [] {
            for field in ["Parameters", "ResultSelector", "ItemSelector"] { if let t = s[field] { out.append(t) } }
        }
        return out
    }

    @Test(arguments: [
        ("invalid__test_illegal_escapes-ESCAPE_SEQUENCES_ILLEGAL_INTRINSIC_FUNCTION", false),
        ("invalid__test_illegal_escapes-ESCAPE_SEQUENCES_ILLEGAL_INTRINSIC_FUNCTION_2", false),
        ("invalid__aslv-payload-template", false),
        ("valid__aslv-intrinsic-functions", true),
        ("valid__aslv-math-add", true),
        ("valid__aws-executed-test_escape_sequence_parsing-ESCAPE_SEQUENCES_JSONPATH", true),
        ("valid__aws-executed-test_assign_from_value-BASE_ASSIGN_FROM_INTRINSIC_FUNCTION", true),
    ])
    func templatesCompileAsAWSDecided(_ name: String, _ valid: Bool) throws {
        let def = try #require(Self.definition(name))
        let templates = Self.templates(def)
        var ok = true
        for t in templates {
            do { _ = try PayloadTemplate(t) } catch { ok = false }
        }
        #expect(ok == valid, "\(name)")
    }
}
