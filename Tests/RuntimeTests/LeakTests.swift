import Foundation
import Runtime
import StatesLanguage
import Store
import Testing

/// A planted secret, printed by command tasks in every way a careless (or curious) build might,
/// reaches neither a result, a finding (what becomes a review comment), the history, nor the
/// store's file.
@Suite struct LeakTests {
    static let canary = "leak-canary-4Fq9zX2pL7wK"

    /// Every form of the canary a reader could turn back into it.
    static var forms: [String] {
        let bytes = Array(canary.utf8)
        let b64 = Data(bytes).base64EncodedString()
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        return [canary, b64, b64.replacingOccurrences(of: "=", with: ""), hex, hex.uppercased(),
                bytes.map { String(format: "%%%02X", $0) }.joined(), String(canary.prefix(12))]
    }

    static let definition = """
        {"StartAt": "Raw", "States": {
          "Raw": {"Type": "Task", "Resource": "stepgate:command", "Credentials": {"RoleArn": "deploy"},
            "Parameters": {"command": ["sh", "-c", "printf '%s\\\\n' \\"$TOKEN\\"; printf %s \\"$TOKEN\\" | base64; printf %s \\"$TOKEN\\" | od -An -tx1 | tr -d ' \\\\n'; echo; printf %s \\"$TOKEN\\" | od -An -tx1 | tr -d ' \\\\n' | tr a-f A-F; echo; python3 -c 'import os,urllib.parse;print(urllib.parse.quote(os.environ[\\"TOKEN\\"],safe=\\"\\"))'; printf %s \\"$TOKEN\\" | cut -c1-11; printf %s \\"$TOKEN\\" | cut -c12-"]},
            "ResultPath": "$.raw", "Next": "Findings"},
          "Findings": {"Type": "Task", "Resource": "stepgate:command", "Credentials": {"RoleArn": "deploy"},
            "Parameters": {"command": ["python3", "-c", "import json,os; t=os.environ['TOKEN']; print(json.dumps({'findings': [{'path': 'a.c', 'line': 1, 'severity': 'error', 'message': 'token ' + t[:9] + '\\\\n' + t[9:] + '\\u0301'}]}))"]},
            "ResultPath": "$.findings", "Next": "Capped"},
          "Capped": {"Type": "Task", "Resource": "stepgate:command", "Credentials": {"RoleArn": "deploy"},
            "Parameters": {"command": ["sh", "-c", "head -c 4090 /dev/zero | tr '\\\\0' x; printf %s \\"$TOKEN\\"; head -c 5000 /dev/zero | tr '\\\\0' y"]},
            "ResultPath": "$.capped", "Next": "Failing"},
          "Failing": {"Type": "Task", "Resource": "stepgate:command", "Credentials": {"RoleArn": "deploy"},
            "Parameters": {"command": ["sh", "-c", "echo \\"denied for $TOKEN\\" >&2; printf %s \\"$TOKEN\\" | base64 >&2; exit 3"]},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Done"}], "End": true},
          "Done": {"Type": "Succeed"}}}
        """

    @Test func aPlantedSecretLeavesNoTrace() async throws {
        let dir = try makeTemporaryDirectory("leak")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
        let grants = RoleGrants(secrets: ["deploy": ["TOKEN": Self.canary]])
        let store = try SQLiteStore(url: "sqlite://\(dir)/state/stepgate.db")
        let redactor = Redactor(secrets: grants.allSecretValues)
        let tasks = commandExecutor(directory: dir + "/work", grants: grants, outputLimit: 4096)
        let result = try await DurableExecutions(store: store, redact: { redactor.redact($0) }).start(
            definitionText: Self.definition, machine: try compile(Self.definition), workflow: "leak", input: .object(JSONObject()),
            tasks: tasks, clock: VirtualClock())
        #expect(result.status == .succeeded, "\(result.cause ?? "")")
        let output = try #require(result.output)
        // The tasks did print it: masks stand where it was.
        #expect((output["raw"]?["stdout"]?.stringValue?.components(separatedBy: "***").count ?? 0) >= 6, "\(output["raw"] ?? .null)")
        #expect(output["findings"]?["findings"]?.arrayValue?.first?["message"] == "token ***\u{0301}")
        let capped = try #require(output["capped"]?["stdout"]?.stringValue)
        #expect(capped.hasSuffix("x***") && output["capped"]?["stdoutTruncated"] == true, "\(capped.suffix(40))")
        #expect(output["failure"]?["Cause"] == "exit status 3; last lines of stderr: denied for ***\n***")

        var places = ["result": result.json.serialized, "history": result.history.map(\.json.serialized).joined(separator: "\n")]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/state") {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/state/" + name))
            places["store file \(name)"] = String(decoding: data, as: UTF8.self)
        }
        for (place, text) in places {
            // Joined again wherever a line was broken (raw or JSON-escaped).
            let joined = text.replacingOccurrences(of: "\\n", with: "").replacingOccurrences(of: "\n", with: "")
            for form in Self.forms {
                #expect(!joined.contains(form), "\(form) in \(place)")
            }
        }
    }
}
