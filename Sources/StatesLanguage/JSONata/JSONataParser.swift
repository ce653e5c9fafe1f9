import Foundation

/// A regular expression literal, compiled once.
final class JSONataRegex: @unchecked Sendable {
    // NSRegularExpression is immutable and safe to share once built.
    let regex: NSRegularExpression
    let source: String
    init(_ regex: NSRegularExpression, source: String) {
        self.regex = regex
        self.source = source
    }
}

/// One step of a location path, with its filters (`a.b[0]`).
struct JSONataStep: Sendable {
    var node: JSONataNode
    var stages: [JSONataNode] = []
    var keepArray = false
    /// An array constructor as the first or last step.
    var consArray = false
}

struct JSONataSortTerm: Sendable {
    var expression: JSONataNode
    var descending: Bool
}

/// The syntax tree of a JSONata expression, already in the shape the evaluator walks (paths
/// as step lists, predicates attached to their steps).
indirect enum JSONataNode: Sendable {
    case path(steps: [JSONataStep], keepSingletonArray: Bool, group: [(JSONataNode, JSONataNode)]?)
    case name(String)
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case regex(JSONataRegex)
    /// `$name`; "" is `$` (the context), "$" is `$$` (the root).
    case variable(String)
    case wildcard
    case descendant
    case negate(JSONataNode)
    case array([JSONataNode])
    case object([(JSONataNode, JSONataNode)])
    case binary(String, JSONataNode, JSONataNode)
    case condition(JSONataNode, JSONataNode, JSONataNode?)
    case block([JSONataNode])
    case bind(String, JSONataNode)
    case lambda(params: [String], body: JSONataNode)
    /// A call; nil arguments are `?` placeholders (partial application).
    case call(JSONataNode, [JSONataNode?])
    case apply(JSONataNode, JSONataNode)
    case sort([JSONataSortTerm])
    /// A non-path expression with predicates, a group-by or `[]`.
    case decorated(JSONataNode, predicates: [JSONataNode], group: [(JSONataNode, JSONataNode)]?, keepArray: Bool)
    /// `| location | update [, delete] |`
    case transform(JSONataNode, JSONataNode, JSONataNode?)
}

/// A parsed JSONata expression.
public struct JSONataExpression: Sendable, CustomStringConvertible {
    let root: JSONataNode
    public let source: String

    public init(_ source: String) throws(JSONataError) {
        self.source = source
        var p = JSONataParser(tokens: try JSONataLexer.tokenize(source))
        self.root = try p.parseAll()
    }

    public var description: String { source }
}

// MARK: - Lexer

struct JSONataToken {
    enum Kind: Equatable {
        case op(String)
        case name(String)
        case variable(String)
        case string(String)
        case number(Double)
        case value(JSONataNode.Literal)
        case regex(JSONataRegex)
        case end

        static func == (a: Kind, b: Kind) -> Bool {
            switch (a, b) {
            case (.op(let x), .op(let y)), (.name(let x), .name(let y)), (.variable(let x), .variable(let y)),
                (.string(let x), .string(let y)):
                return x == y
            case (.number(let x), .number(let y)): return x == y
            case (.end, .end): return true
            default: return false
            }
        }
    }
    var kind: Kind
    var position: Int
}

extension JSONataNode {
    enum Literal { case bool(Bool), null }
}

enum JSONataLexer {
    static let operators: Set<Character> = [
        ".", "[", "]", "{", "}", "(", ")", ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<", ">",
        "^", "&", "!", "~",
    ]
    static let twoCharOperators: Set<String> = ["..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"]

    static func tokenize(_ text: String) throws(JSONataError) -> [JSONataToken] {
        let chars = Array(text)
        var i = 0
        var tokens: [JSONataToken] = []
        func prefixPosition() -> Bool {
            guard let last = tokens.last else { return true }
            switch last.kind {
            case .op(let o): return !(o == ")" || o == "]" || o == "}")
            default: return false
            }
        }
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
                continue
            }
            if c == "/" && i + 1 < chars.count && chars[i + 1] == "*" {
                guard let end = findCommentEnd(chars, i + 2) else { throw JSONataError("S0106", "Comment has no closing tag") }
                i = end
                continue
            }
            if c == "/" && prefixPosition() {
                // regex literal
                var j = i + 1
                var depth = 0
                var pattern = ""
                while j < chars.count {
                    let ch = chars[j]
                    if ch == "/" && depth == 0 { break }
                    if ch == "\\" && j + 1 < chars.count {
                        pattern.append(ch)
                        pattern.append(chars[j + 1])
                        j += 2
                        continue
                    }
                    if ch == "[" { depth += 1 }
                    if ch == "]" && depth > 0 { depth -= 1 }
                    pattern.append(ch)
                    j += 1
                }
                guard j < chars.count else { throw JSONataError("S0302", "No terminating / in regular expression") }
                j += 1
                var flags = ""
                while j < chars.count, chars[j] == "i" || chars[j] == "m" || chars[j] == "g" || chars[j] == "s" {
                    flags.append(chars[j])
                    j += 1
                }
                if pattern.isEmpty { throw JSONataError("S0301", "Empty regular expressions are not allowed") }
                var options: NSRegularExpression.Options = []
                if flags.contains("i") { options.insert(.caseInsensitive) }
                if flags.contains("m") { options.insert(.anchorsMatchLines) }
                if flags.contains("s") { options.insert(.dotMatchesLineSeparators) }
                guard let re = try? NSRegularExpression(pattern: pattern, options: options) else {
                    throw JSONataError("S0301", "Invalid regular expression /\(pattern)/")
                }
                tokens.append(JSONataToken(kind: .regex(JSONataRegex(re, source: pattern)), position: i))
                i = j
                continue
            }
            if i + 1 < chars.count {
                let two = String([c, chars[i + 1]])
                if twoCharOperators.contains(two) {
                    // `..` must not swallow `...`; fine for JSONata.
                    tokens.append(JSONataToken(kind: .op(two), position: i))
                    i += 2
                    continue
                }
            }
            if operators.contains(c) {
                tokens.append(JSONataToken(kind: .op(String(c)), position: i))
                i += 1
                continue
            }
            if c == "\"" || c == "'" {
                let (s, end) = try scanString(chars, i + 1, quote: c)
                tokens.append(JSONataToken(kind: .string(s), position: i))
                i = end
                continue
            }
            if c.isASCII && c.isNumber {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                if j + 1 < chars.count, chars[j] == ".", chars[j + 1].isASCII, chars[j + 1].isNumber {
                    j += 1
                    while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                }
                if j < chars.count, chars[j] == "e" || chars[j] == "E" {
                    var k = j + 1
                    if k < chars.count, chars[k] == "+" || chars[k] == "-" { k += 1 }
                    if k < chars.count, chars[k].isASCII, chars[k].isNumber {
                        while k < chars.count, chars[k].isASCII, chars[k].isNumber { k += 1 }
                        j = k
                    }
                }
                guard let d = Double(String(chars[i..<j])), d.isFinite else {
                    throw JSONataError("S0102", "Number out of range: \(String(chars[i..<j]))")
                }
                tokens.append(JSONataToken(kind: .number(d), position: i))
                i = j
                continue
            }
            if c == "`" {
                guard let end = chars[(i + 1)...].firstIndex(of: "`") else {
                    throw JSONataError("S0105", "Quoted property name must be terminated with a backquote (`)")
                }
                tokens.append(JSONataToken(kind: .name(String(chars[(i + 1)..<end])), position: i))
                i = end + 1
                continue
            }
            // names and variables
            var j = i
            let isVariable = c == "$"
            if isVariable { j += 1 }
            while j < chars.count, !chars[j].isWhitespace, !operators.contains(chars[j]), chars[j] != "\"", chars[j] != "'",
                chars[j] != "`"
            {
                if isVariable && chars[j] == "$" && j > i + 1 { break }
                j += 1
                if isVariable && j == i + 2 && chars[i + 1] == "$" { break }
            }
            let word = String(chars[i..<j])
            i = j
            if isVariable {
                tokens.append(JSONataToken(kind: .variable(String(word.dropFirst())), position: i))
                continue
            }
            switch word {
            case "and", "or", "in": tokens.append(JSONataToken(kind: .op(word), position: i))
            case "true": tokens.append(JSONataToken(kind: .value(.bool(true)), position: i))
            case "false": tokens.append(JSONataToken(kind: .value(.bool(false)), position: i))
            case "null": tokens.append(JSONataToken(kind: .value(.null), position: i))
            default: tokens.append(JSONataToken(kind: .name(word), position: i))
            }
        }
        tokens.append(JSONataToken(kind: .end, position: chars.count))
        return tokens
    }

    static func findCommentEnd(_ chars: [Character], _ start: Int) -> Int? {
        var i = start
        while i + 1 < chars.count {
            if chars[i] == "*" && chars[i + 1] == "/" { return i + 2 }
            i += 1
        }
        return nil
    }

    static func scanString(_ chars: [Character], _ start: Int, quote: Character) throws(JSONataError) -> (String, Int) {
        var s = ""
        var i = start
        while i < chars.count {
            let c = chars[i]
            if c == quote { return (s, i + 1) }
            if c == "\\" {
                i += 1
                guard i < chars.count else { break }
                switch chars[i] {
                case "\"": s.append("\"")
                case "\\": s.append("\\")
                case "/": s.append("/")
                case "b": s.append("\u{8}")
                case "f": s.append("\u{c}")
                case "n": s.append("\n")
                case "r": s.append("\r")
                case "t": s.append("\t")
                case "u":
                    guard i + 4 < chars.count, let code = UInt32(String(chars[(i + 1)...(i + 4)]), radix: 16) else {
                        throw JSONataError("S0104", "The escape sequence \\u must be followed by 4 hex digits")
                    }
                    i += 4
                    if (0xD800...0xDBFF).contains(code), i + 6 < chars.count, chars[i + 1] == "\\", chars[i + 2] == "u",
                        let low = UInt32(String(chars[(i + 3)...(i + 6)]), radix: 16), (0xDC00...0xDFFF).contains(low)
                    {
                        let scalar = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        if let u = Unicode.Scalar(scalar) { s.unicodeScalars.append(u) }
                        i += 6
                    } else if let u = Unicode.Scalar(code) {
                        s.unicodeScalars.append(u)
                    }
                default:
                    throw JSONataError("S0103", "Unsupported escape sequence: \\\(chars[i])")
                }
                i += 1
                continue
            }
            s.append(c)
            i += 1
        }
        throw JSONataError("S0101", "String literal must be terminated by a matching quote")
    }
}

// MARK: - Parser

struct JSONataParser {
    let tokens: [JSONataToken]
    var pos = 0

    init(tokens: [JSONataToken]) { self.tokens = tokens }

    var current: JSONataToken { tokens[pos] }

    mutating func advance() { if pos < tokens.count - 1 { pos += 1 } }

    func isOp(_ o: String) -> Bool {
        if case .op(let x) = current.kind { return x == o }
        return false
    }

    mutating func expect(_ o: String) throws(JSONataError) {
        guard isOp(o) else {
            throw JSONataError("S0202", "Expected \"\(o)\" at position \(current.position)")
        }
        advance()
    }

    mutating func parseAll() throws(JSONataError) -> JSONataNode {
        let e = try expression(0)
        guard case .end = current.kind else {
            throw JSONataError("S0201", "Syntax error at position \(current.position)")
        }
        return e
    }

    static func bindingPower(_ t: JSONataToken) -> Int {
        guard case .op(let o) = t.kind else { return 0 }
        switch o {
        case ".": return 75
        case "[", "(", "@", "#": return 80
        case "{": return 70
        case "?", "..", "?:", "??": return 20
        case "+", "-", "&": return 50
        case "*", "/", "%", "**": return 60
        case "=", "<", ">", "^", "!=", "<=", ">=", "~>", "in": return 40
        case ":=": return 10
        case "and": return 30
        case "or": return 25
        default: return 0
        }
    }

    mutating func expression(_ rbp: Int) throws(JSONataError) -> JSONataNode {
        let t = current
        advance()
        var left = try nud(t)
        while rbp < Self.bindingPower(current) {
            let op = current
            advance()
            left = try led(op, left)
        }
        return left
    }

    mutating func nud(_ t: JSONataToken) throws(JSONataError) -> JSONataNode {
        switch t.kind {
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .value(.bool(let b)): return .bool(b)
        case .value(.null): return .null
        case .regex(let r): return .regex(r)
        case .name(let n): return .path(steps: [JSONataStep(node: .name(n))], keepSingletonArray: false, group: nil)
        case .variable(let v): return .variable(v)
        case .end: throw JSONataError("S0207", "Unexpected end of expression")
        case .op(let o):
            switch o {
            case "and", "or", "in":
                return .path(steps: [JSONataStep(node: .name(o))], keepSingletonArray: false, group: nil)
            case "-":
                let e = try expression(70)
                if case .number(let d) = e { return .number(-d) }
                return .negate(e)
            case "*": return .wildcard
            case "**": return .descendant
            case "(":
                var list: [JSONataNode] = []
                while !isOp(")") {
                    list.append(try expression(0))
                    if !isOp(";") { break }
                    advance()
                }
                try expect(")")
                return .block(list)
            case "[":
                var items: [JSONataNode] = []
                if !isOp("]") {
                    while true {
                        items.append(try expression(0))
                        if !isOp(",") { break }
                        advance()
                    }
                }
                try expect("]")
                return .array(items)
            case "{":
                return .object(try objectPairs())
            case "|":
                let location = try expression(0)
                try expect("|")
                let update = try expression(0)
                var delete: JSONataNode?
                if isOp(",") {
                    advance()
                    delete = try expression(0)
                }
                try expect("|")
                return .transform(location, update, delete)
            default:
                throw JSONataError("S0211", "The symbol \(o) cannot be used as a unary operator")
            }
        }
    }

    mutating func objectPairs() throws(JSONataError) -> [(JSONataNode, JSONataNode)] {
        var pairs: [(JSONataNode, JSONataNode)] = []
        if !isOp("}") {
            while true {
                let k = try expression(0)
                try expect(":")
                let v = try expression(0)
                pairs.append((k, v))
                if !isOp(",") { break }
                advance()
            }
        }
        try expect("}")
        return pairs
    }

    mutating func led(_ t: JSONataToken, _ left: JSONataNode) throws(JSONataError) -> JSONataNode {
        guard case .op(let o) = t.kind else { throw JSONataError("S0201", "Syntax error at position \(t.position)") }
        switch o {
        case ".":
            let rhs = try expression(75)
            return try Self.makePath(left, rhs)
        case "[":
            if isOp("]") {
                advance()
                return Self.keepArray(left)
            }
            let predicate = try expression(0)
            try expect("]")
            return Self.addPredicate(left, predicate)
        case "{":
            let pairs = try objectPairs()
            switch left {
            case .path(let steps, let keep, nil): return .path(steps: steps, keepSingletonArray: keep, group: pairs)
            case .decorated(let n, let preds, nil, let keep): return .decorated(n, predicates: preds, group: pairs, keepArray: keep)
            case .path, .decorated: throw JSONataError("S0210", "Each step can only have one grouping expression")
            default: return .decorated(left, predicates: [], group: pairs, keepArray: false)
            }
        case "(":
            if case .path(let steps, _, nil) = left, steps.count == 1, case .name(let n) = steps[0].node,
                n == "function" || n == "λ"
            {
                var params: [String] = []
                if !isOp(")") {
                    while true {
                        guard case .variable(let v) = current.kind else {
                            throw JSONataError("S0208", "Parameter of function definition must be a variable name")
                        }
                        params.append(v)
                        advance()
                        if !isOp(",") { break }
                        advance()
                    }
                }
                try expect(")")
                if isOp("<") {
                    // signature: skip it
                    var depth = 0
                    repeat {
                        if isOp("<") { depth += 1 }
                        if isOp(">") { depth -= 1 }
                        if case .end = current.kind { throw JSONataError("S0401", "Invalid function signature") }
                        advance()
                    } while depth > 0
                }
                try expect("{")
                let body = try expression(0)
                try expect("}")
                return .lambda(params: params, body: body)
            }
            var args: [JSONataNode?] = []
            if !isOp(")") {
                while true {
                    if isOp("?") {
                        advance()
                        args.append(nil)
                    } else {
                        args.append(try expression(0))
                    }
                    if !isOp(",") { break }
                    advance()
                }
            }
            try expect(")")
            return .call(left, args)
        case "?":
            let then = try expression(0)
            var otherwise: JSONataNode?
            if isOp(":") {
                advance()
                otherwise = try expression(0)
            }
            return .condition(left, then, otherwise)
        case ":=":
            guard case .variable(let name) = left else {
                throw JSONataError("S0212", "The left side of := must be a variable name (start with $)")
            }
            return .bind(name, try expression(9))
        case "~>":
            return .apply(left, try expression(40))
        case "^":
            try expect("(")
            var terms: [JSONataSortTerm] = []
            while true {
                var descending = false
                if isOp("<") {
                    advance()
                } else if isOp(">") {
                    descending = true
                    advance()
                }
                terms.append(JSONataSortTerm(expression: try expression(0), descending: descending))
                if !isOp(",") { break }
                advance()
            }
            try expect(")")
            var steps: [JSONataStep]
            var keep = false
            if case .path(let s, let k, nil) = left {
                steps = s
                keep = k
            } else {
                steps = [JSONataStep(node: left)]
            }
            steps.append(JSONataStep(node: .sort(terms)))
            return .path(steps: steps, keepSingletonArray: keep, group: nil)
        case "@", "#":
            throw JSONataError("S0201", "Positional and context variable binding (\(o)) is not supported")
        default:
            let rhs = try expression(Self.bindingPower(t))
            return .binary(o, left, rhs)
        }
    }

    static func toStep(_ n: JSONataNode) throws(JSONataError) -> JSONataStep {
        switch n {
        case .decorated(let inner, let preds, nil, let keep):
            var s = try toStep(inner)
            s.stages += preds
            s.keepArray = s.keepArray || keep
            return s
        case .string(let s): return JSONataStep(node: .name(s))
        case .number, .bool, .null:
            throw JSONataError("S0213", "The literal value cannot be used as a step within a path expression")
        default: return JSONataStep(node: n)
        }
    }

    static func makePath(_ lhs: JSONataNode, _ rhs: JSONataNode) throws(JSONataError) -> JSONataNode {
        var steps: [JSONataStep]
        var keep = false
        if case .path(let s, let k, nil) = lhs {
            steps = s
            keep = k
        } else {
            steps = [try toStep(lhs)]
        }
        if case .path(let s, let k, nil) = rhs {
            steps += s
            keep = keep || k
        } else {
            steps.append(try toStep(rhs))
        }
        if steps.contains(where: { $0.keepArray }) { keep = true }
        if case .array = steps[0].node { steps[0].consArray = true }
        if case .array = steps[steps.count - 1].node { steps[steps.count - 1].consArray = true }
        return .path(steps: steps, keepSingletonArray: keep, group: nil)
    }

    static func addPredicate(_ n: JSONataNode, _ predicate: JSONataNode) -> JSONataNode {
        switch n {
        case .path(var steps, let keep, nil):
            steps[steps.count - 1].stages.append(predicate)
            return .path(steps: steps, keepSingletonArray: keep, group: nil)
        case .decorated(let inner, let preds, let group, let keep):
            return .decorated(inner, predicates: preds + [predicate], group: group, keepArray: keep)
        default:
            return .decorated(n, predicates: [predicate], group: nil, keepArray: false)
        }
    }

    static func keepArray(_ n: JSONataNode) -> JSONataNode {
        switch n {
        case .path(var steps, _, let group):
            steps[steps.count - 1].keepArray = true
            return .path(steps: steps, keepSingletonArray: true, group: group)
        case .decorated(let inner, let preds, let group, _):
            return .decorated(inner, predicates: preds, group: group, keepArray: true)
        default:
            return .decorated(n, predicates: [], group: nil, keepArray: true)
        }
    }
}
