import StatesLanguage
import Testing
import YAMLLoader

@Suite struct YAMLLoaderTests {
    func parse(_ text: String) throws -> SourceDocument {
        try YAMLLoader.parseDocument(text, fileName: "t.yaml")
    }

    func syntaxError(_ text: String) -> YAMLSyntaxError? {
        do {
            _ = try YAMLLoader.parseDocument(text, fileName: "t.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func positionsOfKeysAndValues() throws {
        let text = """
            # a comment
            version: 1
            workflows:
              deploy:
                definition: workflows/deploy.asl.json
              other:
                on: {push: {refs: [refs/heads/main, "refs/tags/*"]}}
            """
        let doc = try parse(text)
        let map = doc.sourceMap
        #expect(map.entry([.key("version")])?.key == SourceLocation(line: 2, column: 1))
        #expect(map.entry([.key("version")])?.value == SourceLocation(line: 2, column: 10))
        #expect(map.entry([.key("workflows"), .key("deploy")])?.key == SourceLocation(line: 4, column: 3))
        let def: [PathComponent] = [.key("workflows"), .key("deploy"), .key("definition")]
        #expect(map.entry(def)?.key == SourceLocation(line: 5, column: 5))
        #expect(map.entry(def)?.value == SourceLocation(line: 5, column: 17))
        let refs: [PathComponent] = [.key("workflows"), .key("other"), .key("on"), .key("push"), .key("refs")]
        #expect(map.entry(refs + [.index(0)])?.value == SourceLocation(line: 7, column: 24))
        #expect(map.entry(refs + [.index(1)])?.value == SourceLocation(line: 7, column: 41))
        #expect(map.entry([.key("workflows"), .key("other"), .key("on")])?.key == SourceLocation(line: 7, column: 5))
        #expect(doc.value["workflows"]?["other"]?["on"]?["push"]?["refs"] == ["refs/heads/main", "refs/tags/*"])
        #expect(doc.fileName == "t.yaml")
    }

    @Test func keyOnLine5Column3() throws {
        let doc = try parse("a:\n  b: 1\n\n# c\n  key: [x]\n")
        #expect(doc.sourceMap.entry([.key("a"), .key("key")])?.key == SourceLocation(line: 5, column: 3))
        #expect(doc.sourceMap.entry([.key("a"), .key("key")])?.value == SourceLocation(line: 5, column: 8))
        #expect(doc.sourceMap.entry([.key("a"), .key("key"), .index(0)])?.value == SourceLocation(line: 5, column: 9))
        #expect(doc.sourceMap.entry([])?.value == SourceLocation(line: 1, column: 1))
        let d = Diagnostic(.error, "bad", at: [.key("a"), .key("key")], pointsAtKey: true).located(in: doc.sourceMap)
        #expect(d.formatted(file: "f.yaml") == "f.yaml:5:3: error: bad")
    }

    @Test func unicodeColumnsCountScalars() throws {
        let doc = try parse("ü: {é: 1, k: 2}")
        #expect(doc.sourceMap.entry([.key("ü"), .key("k")])?.key == SourceLocation(line: 1, column: 11))
    }

    @Test(arguments: [
        ("true", JSON.bool(true)), ("True", .bool(true)), ("FALSE", .bool(false)),
        ("yes", .string("yes")), ("on", .string("on")), ("off", .string("off")), ("y", .string("y")),
        ("null", .null), ("~", .null), ("", .null), ("Null", .null),
        ("42", .int(42)), ("-7", .int(-7)), ("+3", .int(3)), ("0o17", .int(15)), ("0x1F", .int(31)),
        ("012", .int(12)), ("1_000", .string("1_000")), ("0b101", .string("0b101")),
        ("3.5", .double(3.5)), ("-0.25", .double(-0.25)), ("1e3", .double(1000)), (".5", .double(0.5)),
        ("2.", .double(2)), ("6.02E+23", .double(6.02e23)),
        ("99999999999999999999", .double(1e20)),
        ("\"42\"", .string("42")), ("'true'", .string("true")), ("\"\"", .string("")),
        ("!!str 42", .string("42")), ("!!float 3", .double(3)), ("!!int \"5\"", .int(5)),
        ("2024-01-02", .string("2024-01-02")), ("12:30", .string("12:30")), ("=", .string("=")),
        ("hello world", .string("hello world")), ("5s", .string("5s")),
    ])
    func scalarTyping(source: String, expected: JSON) throws {
        let doc = try parse("v: \(source)")
        let value = try #require(doc.value["v"])
        #expect(value == expected)
        #expect(value.typeName == expected.typeName)
        if case .double = expected { #expect(value.isNumber && value.intValue == nil || value.doubleValue == expected.doubleValue) }
    }

    @Test func integersAndDoublesStayApart() throws {
        let doc = try parse("a: 3\nb: 3.0")
        guard case .int(3) = doc.value["a"] else { Issue.record("a is not an int"); return }
        guard case .double(3.0) = doc.value["b"] else { Issue.record("b is not a double"); return }
    }

    @Test func blockScalarsAreStrings() throws {
        let doc = try parse("a: |\n  true\n  42\nb: >-\n  folded\n  text\n")
        #expect(doc.value["a"] == "true\n42\n")
        #expect(doc.value["b"] == "folded text")
    }

    @Test func infinityAndNaNAreRefused() {
        let e = syntaxError("a: 1\nb: .inf")
        #expect(e?.location == SourceLocation(line: 2, column: 4))
        #expect(syntaxError("b: -.Inf") != nil)
        #expect(syntaxError("b: .nan") != nil)
        #expect(syntaxError("b: \".nan\"") == nil)
    }

    @Test func badExplicitTags() {
        #expect(syntaxError("a: !!int abc")?.location == SourceLocation(line: 1, column: 4))
        #expect(syntaxError("a: !Ref thing")?.message.contains("unsupported YAML tag") == true)
    }

    @Test func anchorsAndAliases() throws {
        let text = """
            defaults: &defaults
              retries: 3
              mode: fast
            list: &l [1, 2]
            a: *defaults
            b: *l
            c:
              <<: *defaults
              mode: slow
            d:
              <<: [{x: 1}, {x: 2, y: 2}]
              z: 0
            """
        let doc = try parse(text)
        #expect(doc.value["a"] == ["retries": 3, "mode": "fast"])
        #expect(doc.value["b"] == [1, 2])
        #expect(doc.value["c"] == ["retries": 3, "mode": "slow"])
        #expect(doc.value["c"]?.objectValue?.keys == ["retries", "mode"])
        #expect(doc.value["d"] == ["x": 1, "y": 2, "z": 0])
        // An aliased value is located where its anchor's node is.
        #expect(doc.sourceMap.entry([.key("c"), .key("mode")])?.value == SourceLocation(line: 9, column: 9))
        #expect(doc.sourceMap.entry([.key("c"), .key("retries")])?.value == SourceLocation(line: 2, column: 12))
    }

    @Test func undefinedAliasIsAnError() {
        #expect(syntaxError("a: 1\nb: *nope")?.location == SourceLocation(line: 2, column: 4))
    }

    @Test func aliasBombIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 {
            let prev = "*a\(i - 1)"
            text += "a\(i): &a\(i) [\(Array(repeating: prev, count: 10).joined(separator: ", "))]\n"
        }
        let e = syntaxError(text)
        #expect(e?.message.contains("too large") == true)
    }

    @Test func duplicateKeysPointAtTheSecondKey() {
        let block = """
            version: 1
            workflows:
              deploy:
                definition: a
                on: {}
                definition: b
            """
        let e = syntaxError(block)
        #expect(e?.location == SourceLocation(line: 6, column: 5))
        #expect(e?.message == "duplicate key 'definition'")

        #expect(syntaxError("{a: 1, b: 2, a: 3}")?.location == SourceLocation(line: 1, column: 14))
        #expect(syntaxError("x: {a: 1, \"a\": 3}")?.location == SourceLocation(line: 1, column: 11))
        #expect(syntaxError("a: 1\nb: 2\na: 3\na: 4\n")?.location == SourceLocation(line: 3, column: 1))
        #expect(syntaxError("- k: 1\n- k: 1\n  j: 2\n  k: 3\n")?.location == SourceLocation(line: 4, column: 3))
    }

    @Test func moreThanOneDocumentIsAnError() {
        let e = syntaxError("a: 1\n---\nb: 2\n")
        #expect(e?.location == SourceLocation(line: 2, column: 1))
        #expect(e?.message.contains("another document") == true)
        // One document with explicit markers is fine.
        #expect(syntaxError("---\na: 1\n...\n") == nil)
    }

    @Test func syntaxErrorLocations() {
        // A tab cannot indent.
        let unclosed = syntaxError("a: 1\nb: \"open\nc: 3\n")
        #expect(unclosed?.location.line == 4)
        let badIndent = syntaxError("a:\n  b: 1\n c: 2\n")
        #expect(badIndent?.location == SourceLocation(line: 3, column: 2))
        let flow = syntaxError("a: [1, 2\nb: 3\n")
        #expect(flow?.location.line == 2)
        let colon = syntaxError("a: b: c\n")
        #expect(colon?.location == SourceLocation(line: 1, column: 5))
        #expect(colon?.message.contains("mapping values are not allowed") == true)
    }

    @Test func emptyAndNonStringKeys() {
        #expect(syntaxError("") != nil)
        #expect(syntaxError("# only a comment\n") != nil)
        #expect(syntaxError("? [a, b]\n: 1\n")?.location == SourceLocation(line: 1, column: 3))
        #expect(syntaxError("? {a: 1}\n: 1\n")?.message.contains("mapping keys must be strings") == true)
    }

    @Test func scalarRoot() throws {
        #expect(try parse("hello").value == "hello")
        #expect(try parse("- 1\n- two\n").value == [1, "two"])
    }

    @Test func parseDefinitionPicksTheSyntax() throws {
        let json = "{\"StartAt\": \"A\", \"States\": {}}"
        #expect(try YAMLLoader.parseDefinition(json, fileName: "x.asl.json").value["StartAt"] == "A")
        #expect(try YAMLLoader.parseDefinition(json, fileName: "x.asl.yaml").value["StartAt"] == "A")
        #expect(try YAMLLoader.parseDefinition("  \n[1]", fileName: "x").value == [1])
        #expect(try YAMLLoader.parseDefinition("StartAt: A", fileName: "x").value["StartAt"] == "A")
        #expect(try YAMLLoader.parseDefinition("StartAt: A", fileName: "x.YML").value["StartAt"] == "A")

        // JSON rules for .json files: a YAML-only document is a JSON syntax error.
        do {
            _ = try YAMLLoader.parseDefinition("StartAt: A", fileName: "wf.asl.json")
            Issue.record("expected an error")
        } catch {
            #expect(error.fileName == "wf.asl.json")
            #expect(error.location == SourceLocation(line: 1, column: 1))
            #expect(error.description.hasPrefix("wf.asl.json:1:1: error: "))
        }
        do {
            _ = try YAMLLoader.parseDefinition("a: 1\n  b: 2\n", fileName: "wf.asl.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("wf.asl.yaml:2:4: error: mapping values are not allowed"))
            #expect(error.diagnostic.formatted(file: "wf.asl.yaml") == error.description)
        }
    }

    /// Random, mutated and truncated inputs never crash; they parse or fail with a location.
    @Test func fuzzNeverCrashes() {
        var rng = SplitMix64(seed: 0x5eed)
        let seeds = [
            "version: 1\nworkflows:\n  deploy:\n    definition: workflows/d.asl.json\n    on: {gerrit: {labels: {Code-Review: 2}}}\n",
            "a: &x [1, {b: *x}]\nc: !!str 3\nd: |\n  text\n  more\n",
            "- [a, {b: c}, \"q\\u00e9\", 'it''s']\n- ? k\n  : v\n- <<: {a: 1}\n",
            "{\"json\": [1, 2.5, true, null, \"s\"]}",
        ]
        let alphabet = Array("ab: -?{}[],&*!|>'\"#%@`\n\t \\0123.~<=".unicodeScalars)
        var inputs: [String] = []
        for seed in seeds {
            let scalars = Array(seed.unicodeScalars)
            for n in 0...scalars.count { inputs.append(String(String.UnicodeScalarView(scalars[..<n]))) }
            for _ in 0..<60 {
                var s = scalars
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(s.count))
                    switch rng.next() % 3 {
                    case 0: s[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: s.remove(at: i)
                    default: s.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                    }
                    if s.isEmpty { break }
                }
                inputs.append(String(String.UnicodeScalarView(s)))
            }
        }
        for _ in 0..<200 {
            let n = Int(rng.next() % 40)
            inputs.append(String(String.UnicodeScalarView((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })))
        }
        inputs.append(String(repeating: "[", count: 2000))
        inputs.append(String(repeating: "- ", count: 1500) + "x")
        inputs.append("a: \u{0}\u{7}")
        inputs.append("\u{FEFF}a: 1")
        var parsed = 0
        for input in inputs {
            do {
                _ = try YAMLLoader.parseDefinition(input, fileName: "fuzz.yaml")
                parsed += 1
            } catch {
                #expect(error.location.line >= 1 && error.location.column >= 1)
            }
        }
        #expect(inputs.count > 500)
        #expect(parsed > 0)
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
