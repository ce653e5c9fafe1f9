import Config
import Foundation
import StatesLanguage
import Testing
import YAMLLoader

/// `schema/stepgate.schema.json` and `RepositoryConfigLoader` accept exactly the same documents.
@Suite struct SchemaAgreementTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let schemaPath = repositoryRoot.appendingPathComponent("schema/stepgate.schema.json").path

    static func workflow(_ body: String) -> String {
        "version: 1\nworkflows:\n  w:\n    definition: workflows/w.asl.json\n    " + body + "\n"
    }

    static func pushRef(_ ref: String) -> String { workflow("on: {push: {refs: [\(ref)]}}") }

    /// (YAML sample, valid?)
    static let samples: [(String, Bool)] = [
        (RepositoryConfigTests.designExample, true),
        ("version: 1\nworkflows: {}\n", true),
        ("version: 1.0\nworkflows: {}\n", true),
        ("version: 2\nworkflows: {}\n", false),
        ("version: '1'\nworkflows: {}\n", false),
        ("version: true\nworkflows: {}\n", false),
        ("workflows: {}\n", false),
        ("version: 1\n", false),
        ("version: 1\nworkflows: []\n", false),
        ("version: 1\nworkflows: {}\nextra: 1\n", false),
        ("[1, 2]", false),
        ("version: 1\nworkflows:\n  w: {}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/w.asl.json}\n", true),
        ("version: 1\nworkflows:\n  \"-w\": {definition: workflows/w.asl.json}\n", false),
        ("version: 1\nworkflows:\n  \"w\\n\": {definition: workflows/w.asl.json}\n", false),
        ("version: 1\nworkflows:\n  a.b_c-9: {definition: workflows/w.asl.json}\n", true),
        (workflow("on: {}"), true),
        (workflow("on: null"), false),
        (workflow("on: {gerrit: {}}"), true),
        (workflow("on: {gerrit: {labels: {}}}"), true),
        (workflow("on: {gerrit: {labels: {Code-Review: -2, My_Label: 3}}}"), true),
        (workflow("on: {gerrit: {labels: {Code-Review: 0}}}"), false),
        (workflow("on: {gerrit: {labels: {Code-Review: 0.0}}}"), false),
        (workflow("on: {gerrit: {labels: {Code-Review: 2.0}}}"), true),
        (workflow("on: {gerrit: {labels: {Code-Review: 1.5}}}"), false),
        (workflow("on: {gerrit: {labels: {Code-Review: true}}}"), false),
        (workflow("on: {gerrit: {labels: {Code-Review: '2'}}}"), false),
        (workflow("on: {gerrit: {labels: {'Code Review': 2}}}"), false),
        (workflow("on: {gerrit: {labels: {-x: 2}}}"), false),
        (workflow("on: {gerrit: {branches: [main, 'release/*', '**']}}"), true),
        (workflow("on: {gerrit: {branches: []}}"), false),
        (workflow("on: {gerrit: {branches: [main, main]}}"), false),
        (workflow("on: {gerrit: {branches: [refs/heads/main]}}"), false),
        (workflow("on: {gerrit: {branches: [main], projects: [x]}}"), false),
        (workflow("on: {phabricator: {status: [needs-review, accepted, changes-planned, needs-revision, published, abandoned, draft]}}"), true),
        (workflow("on: {phabricator: {status: [accepted, accepted]}}"), false),
        (workflow("on: {phabricator: {status: [Accepted]}}"), false),
        (workflow("on: {phabricator: {status: []}}"), false),
        (workflow("on: {phabricator: {}}"), false),
        (workflow("on: {push: {refs: [refs/heads/main]}, pre-receive: {refs: ['refs/**']}}"), true),
        (workflow("on: {push: {}}"), false),
        (workflow("on: {push: {refs: []}}"), false),
        (workflow("on: {push: {refs: refs/heads/main}}"), false),
        (workflow("on: {pre_receive: {refs: [refs/heads/main]}}"), false),
        (pushRef("refs/heads/main"), true),
        (pushRef("'refs/heads/*'"), true),
        (pushRef("'refs/heads/release-*/**'"), true),
        (pushRef("'refs/**/x'"), true),
        (pushRef("'refs/heads/a*b*c'"), true),
        (pushRef("refs/heads/ü"), true),
        (pushRef("refs/heads/a.b"), true),
        (pushRef("'refs/heads/a@{b'"), true),
        (pushRef("heads/main"), false),
        (pushRef("refs"), false),
        (pushRef("refs/"), false),
        (pushRef("'refs//x'"), false),
        (pushRef("'/refs/x'"), false),
        (pushRef("'refs/heads/***'"), false),
        (pushRef("'refs/heads/a**'"), false),
        (pushRef("'refs/heads/**x/y'"), false),
        (pushRef("'refs/heads/..'"), false),
        (pushRef("'refs/heads/a..b'"), false),
        (pushRef("'refs/heads/.x'"), false),
        (pushRef("'refs/heads/a b'"), false),
        (pushRef("\"refs/heads/a\\tb\""), false),
        (pushRef("\"refs/heads/x\\n\""), false),
        (pushRef("\"refs/heads/x\\x7f\""), false),
        (pushRef("'refs/heads/x~'"), false),
        (pushRef("'refs/heads/x^'"), false),
        (pushRef("'refs/heads/x:y'"), false),
        (pushRef("'refs/heads/x?'"), false),
        (pushRef("'refs/heads/[x]'"), false),
        (pushRef("'refs/heads/x\\y'"), false),
        (pushRef("7"), false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/a/b/c.asl.yml}\n", true),
        ("version: 1\nworkflows:\n  w: {definition: workflows/..x/c.asl.yaml}\n", true),
        ("version: 1\nworkflows:\n  w: {definition: workflows/../c.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/./c.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows//c.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: /workflows/c.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: c.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/.asl.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/c.ASL.JSON}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: workflows/c.json}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: 'workflows\\c.asl.json'}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: \"workflows/c.asl.json\\n\"}\n", false),
        ("version: 1\nworkflows:\n  w: {definition: 3}\n", false),
        (workflow("input: {a: [1, {b: null}]}"), true),
        (workflow("input: []"), false),
        (workflow("input: null"), false),
        (workflow("report: {}"), true),
        (workflow("report: {vote: Verified, comment: false}"), true),
        (workflow("report: {vote: 'Ver ified'}"), false),
        (workflow("report: {comment: 'yes'}"), false),
        (workflow("report: {vote: Verified, message: x}"), false),
        (workflow("timeout: 5s"), true),
        (workflow("timeout: 500ms"), true),
        (workflow("timeout: 2m"), true),
        (workflow("timeout: 1h"), true),
        (workflow("timeout: 999999999s"), true),
        (workflow("timeout: 1000000000s"), false),
        (workflow("timeout: 0s"), false),
        (workflow("timeout: 05s"), false),
        (workflow("timeout: 5"), false),
        (workflow("timeout: 5d"), false),
        (workflow("timeout: 1m30s"), false),
        (workflow("timeout: \"5s\\n\""), false),
        (workflow("timeout: ' 5s'"), false),
        (workflow("substitutions: {HelloFunctionArn: 'arn:aws:lambda:us-east-1:1:function:hello', 'AWS::Region': eu-west-1, var.prefix: p, Timeout: 30, Flag: true, Ratio: 0.5}"), true),
        (workflow("substitutions: {}"), true),
        (workflow("substitutions: []"), false),
        (workflow("substitutions: null"), false),
        (workflow("substitutions: {A: null}"), false),
        (workflow("substitutions: {A: [1]}"), false),
        (workflow("substitutions: {A: {b: 1}}"), false),
        (workflow("substitutions: {'!A': x}"), false),
        (workflow("substitutions: {'a b': x}"), false),
        (workflow("substitutions: {'a}': x}"), false),
        (workflow("substitutions: {'a$': x}"), false),
        (workflow("substitutions: {'': x}"), false),
        (workflow("substitutions: {\"A\\n\": x}"), false),
        (workflow("resources: {}"), true),
        (workflow("resources: {'arn:aws:states:::lambda:invoke': {command: [python3, t.py], env: {A: b}}, 'arn:aws:lambda:*': {http: {url: 'http://127.0.0.1:9/x', method: put, headers: {X: y}}}}"), true),
        (workflow("resources: {'arn:aws:states:::sns:publish': {return: {MessageId: m}}, a: {return: null}, b: {throw: {Error: E}}, c: {throw: {Error: E, Cause: c}}}"), true),
        (workflow("resources: {a: {mock: {'0': {Return: 1}, '1-2': {Throw: {Error: E, Cause: c}}}}}"), true),
        (workflow("resources: []"), false),
        (workflow("resources: {a: x}"), false),
        (workflow("resources: {a: {}}"), false),
        (workflow("resources: {a: {command: []}}"), false),
        (workflow("resources: {a: {command: ['']}}"), false),
        (workflow("resources: {a: {command: [x, 1]}}"), false),
        (workflow("resources: {a: {command: [x], env: {A: 1}}}"), false),
        (workflow("resources: {a: {command: [x], return: 1}}"), false),
        (workflow("resources: {a: {return: 1, throw: {Error: E}}}"), false),
        (workflow("resources: {a: {http: {url: 'ftp://x'}}}"), false),
        (workflow("resources: {a: {http: {url: 'http://x', method: 'GE T'}}}"), false),
        (workflow("resources: {a: {http: {url: 'http://x', body: 1}}}"), false),
        (workflow("resources: {a: {throw: {Cause: c}}}"), false),
        (workflow("resources: {a: {throw: {Error: ''}}}"), false),
        (workflow("resources: {a: {throw: {Error: E, Extra: 1}}}"), false),
        (workflow("resources: {a: {mock: {}}}"), false),
        (workflow("resources: {a: {mock: {x: {Return: 1}}}}"), false),
        (workflow("resources: {a: {mock: {'0': {Return: 1, Throw: {Error: E}}}}}"), false),
        (workflow("resources: {a: {mock: {'0': {Returns: 1}}}}"), false),
        (workflow("resources: {'a b': {return: 1}}"), false),
        (workflow("resources: {'': {return: 1}}"), false),
        (workflow("buckets: {}"), true),
        (workflow("buckets: {my-input: data/input, results.v2: 'build/out', abc: ./x}"), true),
        (workflow("buckets: {My-Bucket: data}"), false),
        (workflow("buckets: {ab: data}"), false),
        (workflow("buckets: {-ab: data}"), false),
        (workflow("buckets: {abc: /tmp/x}"), false),
        (workflow("buckets: {abc: ../x}"), false),
        (workflow("buckets: {abc: a/../b}"), false),
        (workflow("buckets: {abc: ''}"), false),
        (workflow("buckets: {abc: 3}"), false),
        (workflow("buckets: []"), false),
    ]

    @Test func schemaAndLoaderAgree() throws {
        var instances: [JSON] = []
        for (text, expected) in Self.samples {
            let document = try YAMLLoader.parseDocument(text, fileName: "sample.yaml")
            let (config, diagnostics) = RepositoryConfigLoader.load(document: document)
            let loaderValid = !diagnostics.contains { $0.severity == .error }
            #expect(loaderValid == expected, "loader on \(text.debugDescription): \(diagnostics)")
            #expect((config != nil) == loaderValid)
            instances.append(document.value)
        }
        let verdicts = try Self.validateWithPython(instances)
        try #require(verdicts.count == Self.samples.count)
        for ((text, expected), schemaValid) in zip(Self.samples, verdicts) {
            #expect(schemaValid == expected, "schema on \(text.debugDescription)")
        }
    }

    /// Validates each instance against the schema with Python's `jsonschema` (Draft 2020-12).
    static func validateWithPython(_ instances: [JSON]) throws -> [Bool] {
        let script = """
            import json, sys
            from jsonschema import Draft202012Validator
            schema = json.load(open(sys.argv[1]))
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema)
            print(json.dumps([validator.is_valid(i) for i in json.load(sys.stdin)]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, schemaPath]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(JSON.array(instances).serialized.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 jsonschema failed")
        let verdicts = try JSONParser.parse(String(decoding: output, as: UTF8.self))
        return (verdicts.arrayValue ?? []).compactMap(\.boolValue)
    }
}
