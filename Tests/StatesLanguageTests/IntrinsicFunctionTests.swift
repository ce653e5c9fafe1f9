import Testing

@testable import StatesLanguage

private func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

private let input = json(
    """
    {"s": "hello", "n": 5, "f": 2.5, "arr": [1, 2, 3, 4, 5], "dup": [1, 1.0, "a", "a", [1], [1], {"k": 1}, {"k": 1}, null, null],
     "obj": {"a": 1, "b": [true, null], "c": {"d": "x"}}, "o2": {"b": 2, "z": 0}, "empty": [], "csv": "a,b;;c",
     "tpl": "Hi {} and {}", "json": "{\\"k\\": [1, 2]}"}
    """)
private let scope = EvaluationScope(
    input: input, context: ["Execution": ["Name": "exec-1"]], variables: ["v": 10, "greeting": "hey"],
    random: { 0x0123_4567_89AB_CDEF })

private func eval(_ text: String) throws -> JSON {
    try IntrinsicExpression.parse(text).evaluate(in: scope)
}

@Suite struct IntrinsicFunctionTests {
    @Test(arguments: [
        // States.Format
        ("States.Format('Hello {}', $.s)", #""Hello hello""#),
        ("States.Format('{} {} {}', $.s, $.n, true)", #""hello 5 true""#),
        ("States.Format('no placeholders')", #""no placeholders""#),
        ("States.Format($.tpl, $.s, $v)", #""Hi hello and 10""#),
        ("States.Format('{}|{}|{}', null, $.f, $.obj)", #""null|2.5|{a=1, b=[true, null], c={d=x}}""#),
        ("States.Format('{}', $.arr)", #""[1, 2, 3, 4, 5]""#),
        (#"States.Format('it\'s \{literal\} {} \\ done', $.s)"#, #""it's {literal} hello \\ done""#),
        ("States.Format('{}:{}', $$.Execution.Name, $greeting)", #""exec-1:hey""#),
        ("States.Format('x{}', States.JsonToString($.obj))", #""x{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"x\"}}""#),
        // States.StringToJson / JsonToString
        ("States.StringToJson($.json)", #"{"k": [1, 2]}"#),
        ("States.StringToJson(' ')", "null"),
        ("States.StringToJson('12')", "12"),
        ("States.JsonToString($.obj)", #""{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"x\"}}""#),
        ("States.JsonToString($.s)", #""\"hello\"""#),
        ("States.JsonToString(1.5)", #""1.5""#),
        // Arrays
        ("States.Array()", "[]"),
        ("States.Array('a', 1, 2.5, true, null, $.obj.c, States.Array(1))", #"["a", 1, 2.5, true, null, {"d": "x"}, [1]]"#),
        ("States.ArrayPartition($.arr, 2)", "[[1, 2], [3, 4], [5]]"),
        ("States.ArrayPartition($.arr, 9)", "[[1, 2, 3, 4, 5]]"),
        ("States.ArrayPartition($.empty, 3)", "[]"),
        ("States.ArrayContains($.arr, 3)", "true"),
        ("States.ArrayContains($.arr, 3.0)", "true"),
        ("States.ArrayContains($.dup, $.obj.c)", "false"),
        ("States.ArrayContains($.dup, States.StringToJson('{\"k\":1}'))", "true"),
        ("States.ArrayRange(1, 9, 2)", "[1, 3, 5, 7, 9]"),
        ("States.ArrayRange(0, 10, 3)", "[0, 3, 6, 9]"),
        ("States.ArrayRange(5, 1, -2)", "[5, 3, 1]"),
        ("States.ArrayRange(5, 1, 1)", "[]"),
        ("States.ArrayRange(3, 3, -1)", "[3]"),
        ("States.ArrayRange(1.4, 5.6, 2.2)", "[1, 3, 5]"),
        ("States.ArrayGetItem($.arr, 0)", "1"),
        ("States.ArrayGetItem($.arr, $.n - 0)", "skip"),
        ("States.ArrayGetItem($.arr, 4)", "5"),
        ("States.ArrayGetItem($.arr, 1.7)", "2"),
        ("States.ArrayGetItem($.empty, 9)", "null"),
        ("States.ArrayLength($.arr)", "5"),
        ("States.ArrayLength($.empty)", "0"),
        ("States.ArrayUnique($.dup)", #"[1, "a", [1], {"k": 1}, null]"#),
        // Encoding
        ("States.Base64Encode('Data to encode')", #""RGF0YSB0byBlbmNvZGU=""#),
        ("States.Base64Encode('✓')", #""4pyT""#),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", #""Data to encode""#),
        ("States.Base64Decode('4pyT')", #""✓""#),
        ("States.Base64Decode('YWJj')", #""abc""#),
        ("States.Base64Decode(' YWJjZA== ')", #""abcd""#),
        ("States.Base64Decode('YWJjZA')", #""abcd""#),
        ("States.Base64Decode(States.Base64Encode($.s))", #""hello""#),
        // Hashes
        ("States.Hash('abc', 'MD5')", #""900150983cd24fb0d6963f7d28e17f72""#),
        ("States.Hash('', 'MD5')", #""d41d8cd98f00b204e9800998ecf8427e""#),
        ("States.Hash('abc', 'SHA-1')", #""a9993e364706816aba3e25717850c26c9cd0d89d""#),
        ("States.Hash('abc', 'SHA-256')", #""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#),
        ("States.Hash('abc', 'SHA-384')",
         #""cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7""#),
        ("States.Hash('abc', 'SHA-512')",
         #""ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f""#),
        ("States.Hash('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'SHA-256')",
         #""248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1""#),
        ("States.Hash('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'SHA-1')",
         #""84983e441c3bd26ebaae4aa1f95129e5e54670f1""#),
        ("States.Hash('The quick brown fox jumps over the lazy dog', 'MD5')", #""9e107d9d372bb6826bd81d3542a419d6""#),
        // JSON
        ("States.JsonMerge($.obj, $.o2, false)", #"{"a": 1, "b": 2, "c": {"d": "x"}, "z": 0}"#),
        // Math
        ("States.MathAdd($.n, -1)", "4"),
        ("States.MathAdd($v, $.n)", "15"),
        ("States.MathAdd(1.5, 1.49)", "3"),
        ("States.MathAdd(-1.5, 0)", "-1"),
        ("States.MathAdd(-2.5, 0)", "-2"),
        ("States.MathAdd(States.ArrayLength($.arr), -1)", "4"),
        ("States.MathRandom(1, 2)", "1"),
        // Strings
        ("States.StringSplit($.csv, ',;')", #"["a", "b", "c"]"#),
        ("States.StringSplit('1,2,3', ',')", #"["1", "2", "3"]"#),
        ("States.StringSplit(',,,', ',')", "[]"),
        ("States.StringSplit('a\\{b', '{')", #"["a", "b"]"#),
    ])
    func evaluates(_ text: String, _ expected: String) throws {
        if expected == "skip" { return }
        #expect(try eval(text) == json(expected), "\(text)")
    }

    @Test func outputKeepsIntegers() throws {
        #expect(try eval("States.MathAdd(1, 2)").serialized == "3")
        #expect(try eval("States.ArrayRange(1, 3, 1)").serialized == "[1,2,3]")
        #expect(try eval("States.JsonMerge($.obj, $.o2, false)").serialized == #"{"a":1,"b":2,"c":{"d":"x"},"z":0}"#)
    }

    @Test func mathRandom() throws {
        // Without a seed, the scope's random source decides: start + random % (end - start).
        let r = try eval("States.MathRandom(10, 20)")
        #expect(r == .int(10 + Int(0x0123_4567_89AB_CDEF % 10)))
        // With a seed, the result is java.util.Random(seed).nextInt(end - start) + start: stable.
        let a = try eval("States.MathRandom(0, 100, 7)")
        let b = try eval("States.MathRandom(0, 100, 7)")
        #expect(a == b)
        var jr = JavaRandom(seed: 42)
        #expect(jr.nextInt(10) == 0)  // new Random(42).nextInt(10) == 0
        #expect(jr.nextInt(10) == 3)  // second draw == 3
        for _ in 0..<50 {
            guard let v = try eval("States.MathRandom(-3, 3)").intValue else { Issue.record("not an int"); return }
            #expect((-3..<3).contains(v))
        }
    }

    @Test func uuidIsVersion4() throws {
        guard case .string(let u) = try eval("States.UUID()") else { Issue.record("not a string"); return }
        let parts = u.split(separator: "-")
        #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
        #expect(parts[2].first == "4")
        #expect("89ab".contains(parts[3].first!))
        #expect(u == u.lowercased())
    }

    @Test(arguments: [
        "States.Format('{} {}', $.s)",
        "States.Format('{}', $.s, $.n)",
        "States.Format($.n, $.s)",
        "States.Format('Hello {', $.s)",
        "States.Format('Hello {{}}', $.s)",
        "States.Format('}')",
        "States.StringToJson($.n)",
        "States.StringToJson('{bad')",
        "States.ArrayPartition($.s, 2)",
        "States.ArrayPartition($.arr, 0)",
        "States.ArrayPartition($.arr, 0.49)",
        "States.ArrayPartition($.arr, -1)",
        "States.ArrayPartition($.arr, 'x')",
        "States.ArrayContains($.s, 1)",
        "States.ArrayRange('a', 5, 1)",
        "States.ArrayRange(1, 'b', 1)",
        "States.ArrayRange(1, 5, 'c')",
        "States.ArrayRange(1, 10, 0)",
        "States.ArrayRange(1, 10, 0.49)",
        "States.ArrayRange(1, 1001, 1)",
        "States.ArrayRange(1001, 1, -1)",
        "States.ArrayGetItem('not-array', 0)",
        "States.ArrayGetItem($.arr, 5)",
        "States.ArrayGetItem($.arr, -1)",
        "States.ArrayGetItem($.arr, '1')",
        "States.ArrayLength($.s)",
        "States.ArrayUnique($.obj)",
        "States.Base64Encode($.n)",
        "States.Base64Decode(123)",
        "States.Base64Decode($.obj)",
        "States.Hash($.s, 'SHA-999')",
        "States.Hash($.n, 'MD5')",
        "States.Hash($.s, $.n)",
        "States.JsonMerge($.obj, $.o2, true)",
        "States.JsonMerge($.obj, $.arr, false)",
        "States.JsonMerge($.s, $.o2, false)",
        "States.MathRandom(5, 5)",
        "States.MathRandom(6, 5)",
        "States.MathRandom('a', 5)",
        "States.MathRandom(1, 5, 'seed')",
        "States.MathAdd($.s, 1)",
        "States.MathAdd(1, null)",
        "States.StringSplit($.n, ',')",
        "States.StringSplit($.s, 1)",
        "States.Format('{}', $.missing)",
        "States.ArrayLength($.missing)",
        "States.Array($missingVariable)",
    ])
    func runtimeErrors(_ text: String) throws {
        let f = try IntrinsicExpression.parse(text)
        do throws(ExecutionError) {
            let v = try f.evaluate(in: scope)
            Issue.record("\(text) gave \(v)")
        } catch {
            #expect(error.error == "States.Runtime", "\(text)")
        }
    }

    @Test func errorCauses() throws {
        func cause(_ text: String, field: String? = nil) throws -> String? {
            let f = try IntrinsicExpression.parse(text)
            do throws(ExecutionError) {
                _ = try f.evaluate(in: EvaluationScope(input: [:]), field: field)
                return nil
            } catch {
                return error.cause
            }
        }
        #expect(try cause("States.ArrayRange(1, 10, 0)") == "Invalid arguments in States.ArrayRange")
        #expect(try cause("States.MathAdd('a', 1)") == "Invalid arguments in States.MathAdd")
        #expect(
            try cause("States.Base64Decode($.missing)", field: "value.$")
                == "The JsonPath argument for the field 'value.$' could not be found in the input '{}'")
        #expect(try cause("States.Format('{}')")?.hasPrefix("Invalid arguments in States.Format") == true)
    }

    @Test func sizeLimits() throws {
        let ok = EvaluationScope(input: ["s": .string(String(repeating: "A", count: 10_000))])
        let tooLong = EvaluationScope(input: ["s": .string(String(repeating: "A", count: 10_001))])
        for fn in ["States.Base64Encode($.s)", "States.Base64Decode($.s)", "States.Hash($.s, 'MD5')"] {
            let f = try IntrinsicExpression.parse(fn)
            #expect(throws: Never.self) { try f.evaluate(in: ok) }
            #expect(throws: ExecutionError.self) { try f.evaluate(in: tooLong) }
        }
        let range = try IntrinsicExpression.parse("States.ArrayRange(1, 1000, 1)").evaluate(in: ok)
        #expect(range.arrayValue?.count == 1000)
    }

    @Test(arguments: [
        "States.Nope($.a)",
        "States.format('x')",
        "Format('x')",
        "States.Format()",
        "States.Format(1, 2)",
        "States.StringToJson()",
        "States.StringToJson($.a, $.b)",
        "States.ArrayPartition($.a)",
        "States.ArrayRange(1, 5)",
        "States.ArrayRange(1, 5, 1, 99)",
        "States.ArrayGetItem($.arr)",
        "States.ArrayGetItem($.arr, 1, 999)",
        "States.ArrayGetItem($.arr, )",
        "States.Base64Decode()",
        "States.Base64Decode('aGVsbG8=', 'extra')",
        "States.Hash('a')",
        "States.JsonMerge($.a, $.b)",
        "States.MathRandom(1)",
        "States.MathRandom(1, 2, 3, 4)",
        "States.MathAdd(1)",
        "States.StringSplit('a')",
        "States.UUID(1)",
        "States.Format('x'",
        "States.Format('x') trailing",
        "States.Format('unterminated)",
        #"States.Format('bad \" escape')"#,
        #"States.Format('bad \n escape')"#,
        "States.Array(abc)",
        "States.Array($.a[)",
        "States.Array(1,,2)",
        "States.Array(1 2)",
        "States.A(States.A(States.A(States.A(States.A(States.A(States.A(States.A(States.A(States.A(States.A())))))))))))",
    ])
    func syntaxErrors(_ text: String) {
        #expect(throws: PathSyntaxError.self, "\(text)") { try IntrinsicExpression.parse(text) }
    }

    @Test func nestingUpToTen() throws {
        let ten = String(repeating: "States.Array(", count: 10) + String(repeating: ")", count: 10)
        #expect(throws: Never.self) { try IntrinsicExpression.parse(ten) }
        let eleven = String(repeating: "States.Array(", count: 11) + String(repeating: ")", count: 11)
        #expect(throws: PathSyntaxError.self) { try IntrinsicExpression.parse(eleven) }
        // The documented nine-deep example (with as many placeholders as arguments).
        let arn = try IntrinsicExpression.parse(
            "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))"
        )
        let out = try arn.evaluate(
            in: EvaluationScope(input: ["ImageRecipe": ["Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my.recipe.x/1.0.0"]]))
        #expect(out == "1.0")
    }

    @Test func argumentForms() throws {
        #expect(try eval("States.Array( 1 , -2 , 3.5e1 , 'a b' , $.n , $ , $$.Execution.Name , $v )").arrayValue?.count == 8)
        #expect(try eval("States.Array($.arr[?(@ > 3)], $['obj']['a'])") == json("[[4, 5], 1]"))
        #expect(try eval("States.Array('a,b', 'c)d')") == json(#"["a,b", "c)d"]"#))
        #expect(try eval("States.Array($.obj.c['d'])") == json(#"["x"]"#))
        #expect(try IntrinsicExpression.parse("States.UUID()").description == "States.UUID()")
    }
}
