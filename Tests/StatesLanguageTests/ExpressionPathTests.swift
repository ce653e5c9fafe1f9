import Testing

@testable import StatesLanguage

private func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

private let store = json(
    """
    {"store": {"book": [
        {"category": "reference", "author": "Rees", "title": "Sayings", "price": 8.95},
        {"category": "fiction", "author": "Waugh", "title": "Sword", "price": 12.99},
        {"category": "fiction", "author": "Melville", "title": "Moby", "isbn": "0-553", "price": 8.99},
        {"category": "fiction", "author": "Tolkien", "title": "Rings", "isbn": "0-395", "price": 22.99}
      ],
      "bicycle": {"color": "red", "price": 19.95}},
     "a b": 1, "weird'key": 2, "n": [0, 1, 2, 3, 4, 5]}
    """)

@Suite struct ExpressionPathTests {
    @Test(arguments: [
        ("$", true), ("$.store", true), ("$.store.book[0]", true), ("$['store']['book'][1]", true),
        ("$.store.book[-1]", true), ("$.a.length()", true),
        ("$.store.book[*]", false), ("$.store.*", false), ("$..author", false), ("$.n[1:3]", false),
        ("$.n[0,2]", false), ("$['a','b']", false), ("$.store.book[?(@.price < 10)]", false),
    ])
    func definiteness(_ text: String, _ definite: Bool) throws {
        let p = try JSONPath.parse(text)
        #expect(p.isDefinite == definite)
        #expect(p.description == text)
    }

    @Test(arguments: [
        ("$.store.bicycle.color", #""red""#),
        ("$.store.book[0].author", #""Rees""#),
        ("$['store']['bicycle']['price']", "19.95"),
        ("$[\"store\"].bicycle.color", #""red""#),
        ("$.store.book[-1].title", #""Rings""#),
        ("$['a b']", "1"),
        ("$['weird\\'key']", "2"),
        ("$.n.length()", "6"),
        ("$.store.book.length()", "4"),
        ("$.store.book[*].author", #"["Rees","Waugh","Melville","Tolkien"]"#),
        ("$.store.book[*]['author']", #"["Rees","Waugh","Melville","Tolkien"]"#),
        ("$..author", #"["Rees","Waugh","Melville","Tolkien"]"#),
        ("$.store..price", "[8.95,12.99,8.99,22.99,19.95]"),
        ("$.store.bicycle.*", #"["red",19.95]"#),
        ("$.n[1:3]", "[1,2]"),
        ("$.n[:2]", "[0,1]"),
        ("$.n[-2:]", "[4,5]"),
        ("$.n[::2]", "[0,2,4]"),
        ("$.n[0,2,9]", "[0,2]"),
        ("$.store.bicycle['color','price']", #"[{"color":"red","price":19.95}]"#),
        ("$.store.book[?(@.price < 10)].title", #"["Sayings","Moby"]"#),
        ("$.store.book[?(@.price <= 8.99)].title", #"["Sayings","Moby"]"#),
        ("$.store.book[?(@.price > 20)].title", #"["Rings"]"#),
        ("$.store.book[?(@.price >= 12.99)].title", #"["Sword","Rings"]"#),
        ("$.store.book[?(@.category == 'fiction' && @.price < 20)].title", #"["Sword","Moby"]"#),
        ("$.store.book[?(@.author == 'Rees' || @.author == \"Tolkien\")].title", #"["Sayings","Rings"]"#),
        ("$.store.book[?(@.category != 'fiction')].title", #"["Sayings"]"#),
        ("$.store.book[?(@.isbn)].title", #"["Moby","Rings"]"#),
        ("$.store.book[?(!@.isbn)].title", #"["Sayings","Sword"]"#),
        ("$.store.book[?(@.price < $.store.bicycle.price)].title", #"["Sayings","Sword","Moby"]"#),
        ("$.store.book[?((@.price < 9) && (@.isbn))].title", #"["Moby"]"#),
        ("$.missing[*]", "[]"),
        ("$.store.bicycle[0]", "null"),
    ])
    func evaluation(_ text: String, _ expected: String) throws {
        let p = try JSONPath.parse(text)
        let got = p.evaluate(on: store)
        if expected == "null" {
            #expect(got == nil)
        } else {
            #expect(got == json(expected), "\(text) gave \(got?.serialized ?? "nothing")")
        }
    }

    @Test func missingDefinitePathIsNil() throws {
        #expect(try JSONPath.parse("$.nope").evaluate(on: store) == nil)
        #expect(try JSONPath.parse("$.store.nope.deeper").evaluate(on: store) == nil)
        #expect(try JSONPath.parse("$.n[6]").evaluate(on: store) == nil)
        #expect(try JSONPath.parse("$.n[-7]").evaluate(on: store) == nil)
        #expect(try JSONPath.parse("$.store.bicycle.color.x").evaluate(on: store) == nil)
    }

    @Test func roots() throws {
        let scope = EvaluationScope(
            input: ["a": 1], context: ["Execution": ["Name": "run-1"]], variables: ["total": ["x": 5], "n": 3])
        #expect(try JSONPath.parse("$").root == .input)
        #expect(try JSONPath.parse("$.a").evaluate(in: scope) == 1)
        #expect(try JSONPath.parse("$$").root == .context)
        #expect(try JSONPath.parse("$$.Execution.Name").evaluate(in: scope) == "run-1")
        #expect(try JSONPath.parse("$total").root == .variable("total"))
        #expect(try JSONPath.parse("$total.x").evaluate(in: scope) == 5)
        #expect(try JSONPath.parse("$n").evaluate(in: scope) == 3)
        #expect(try JSONPath.parse("$missing").evaluate(in: scope) == nil)
        #expect(try JSONPath.parse("$total['x']").evaluate(in: scope) == 5)
    }

    @Test(arguments: [
        "", "a", ".a", "$.", "$..", "$.a.", "$[", "$[]", "$['a'", "$[abc]", "$.a[1", "$[?(@.a <)]",
        "$[?(@.a == 1]", "$.a b", "$x-y", "$[1:2:3:4]", "$.length().a", "$['a',]", "$[1,]",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: PathSyntaxError.self) { try JSONPath.parse(text) }
    }

    @Test func hashableByText() throws {
        #expect(try JSONPath.parse("$.a") == JSONPath.parse("$.a"))
        #expect(try JSONPath.parse("$.a") != JSONPath.parse("$['a']"))
        #expect(Set([try JSONPath.parse("$.a"), try JSONPath.parse("$.a")]).count == 1)
    }
}

@Suite struct ExpressionReferencePathTests {
    @Test func rootReplaces() throws {
        #expect(try ReferencePath.parse("$").assign(["r": 1], into: ["a": 1]) == ["r": 1])
    }

    @Test func setsAndCreatesIntermediates() throws {
        let input: JSON = ["a": 1, "b": ["c": 2]]
        #expect(try ReferencePath.parse("$.x").assign(9, into: input) == ["a": 1, "b": ["c": 2], "x": 9])
        #expect(try ReferencePath.parse("$.b.c").assign(9, into: input) == ["a": 1, "b": ["c": 9]])
        #expect(try ReferencePath.parse("$.b.d").assign(9, into: input) == ["a": 1, "b": ["c": 2, "d": 9]])
        #expect(try ReferencePath.parse("$.p.q.r").assign(9, into: input) == ["a": 1, "b": ["c": 2], "p": ["q": ["r": 9]]])
        #expect(try ReferencePath.parse("$['b']['e']").assign(9, into: input) == ["a": 1, "b": ["c": 2, "e": 9]])
        #expect(try ReferencePath.parse("$.a").assign(["z": true], into: input) == ["a": ["z": true], "b": ["c": 2]])
    }

    @Test func keepsKeyOrder() throws {
        let out = try ReferencePath.parse("$.a").assign(5, into: ["a": 1, "b": 2])
        #expect(out.serialized == #"{"a":5,"b":2}"#)
    }

    @Test func arrayIndex() throws {
        let input: JSON = ["list": [["v": 1], ["v": 2]]]
        #expect(try ReferencePath.parse("$.list[1].v").assign(7, into: input) == ["list": [["v": 1], ["v": 7]]])
        #expect(try ReferencePath.parse("$.list[0]").assign(7, into: input) == ["list": [7, ["v": 2]]])
    }

    @Test func matchFailures() throws {
        let cases: [(String, JSON)] = [
            ("$.a.b", ["a": "text"]), ("$.x", "plain"), ("$.list[5]", ["list": [1]]), ("$.a[0]", ["a": ["k": 1]]),
        ]
        for (path, input) in cases {
            let p = try ReferencePath.parse(path)
            do throws(ExecutionError) {
                _ = try p.assign(1, into: input)
                Issue.record("\(path) should fail")
            } catch {
                #expect(error.error == "States.ResultPathMatchFailure")
                #expect(error.cause == "Unable to apply ReferencePath \(path) to input \(input.serialized)")
            }
        }
    }

    @Test(arguments: ["$.a[*]", "$..a", "$.a[1:2]", "$$.a", "$x", "$.a[?(@.b)]", "$['a','b']", "a", "$.a[-1]"])
    func rejectsNonReferencePaths(_ text: String) {
        #expect(throws: PathSyntaxError.self) { try ReferencePath.parse(text) }
    }
}
