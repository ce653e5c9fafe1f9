/// Syntax checks for intrinsic function calls (`States.Format('{}', $.x)`) in `.$` fields of
/// the JSONPath query language: known name, argument count, balanced parentheses, quoted
/// strings with only the escapes AWS allows, commas between arguments.
///
/// Self-contained on purpose (the runtime parser lives elsewhere and may be unified later).
enum ValidationIntrinsicSyntax {
    /// Allowed argument counts per function.
    static let arity: [String: ClosedRange<Int>] = [
        "States.Format": 1...Int.max,
        "States.StringToJson": 1...1,
        "States.JsonToString": 1...1,
        "States.Array": 0...Int.max,
        "States.ArrayPartition": 2...2,
        "States.ArrayContains": 2...2,
        "States.ArrayRange": 3...3,
        "States.ArrayGetItem": 2...2,
        "States.ArrayLength": 1...1,
        "States.ArrayUnique": 1...1,
        "States.Base64Encode": 1...1,
        "States.Base64Decode": 1...1,
        "States.Hash": 2...2,
        "States.JsonMerge": 3...3,
        "States.MathRandom": 2...3,
        "States.MathAdd": 2...2,
        "States.StringSplit": 2...2,
        "States.UUID": 0...0,
    ]

    /// Whether the text is meant as a function call rather than a path.
    static func looksLikeCall(_ text: String) -> Bool {
        text.hasPrefix("States.") || (!text.hasPrefix("$") && text.contains("("))
    }

    /// Nil when `text` is one well-formed call; otherwise why not.
    static func problem(in text: String) -> String? {
        var parser = Parser(s: Array(text.unicodeScalars))
        do throws(Failure) {
            parser.skipSpaces()
            try parser.call()
            parser.skipSpaces()
            if parser.i < parser.s.count { throw Failure("unexpected text after the call at offset \(parser.i)") }
            return nil
        } catch {
            return error.message
        }
    }

    struct Failure: Error {
        var message: String
        init(_ m: String) { message = m }
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var depth = 0

        mutating func skipSpaces() {
            while i < s.count && (s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r") { i += 1 }
        }

        mutating func call() throws(Failure) {
            let start = i
            while i < s.count && (s[i] == "." || s[i] == "_" || s[i].properties.isAlphabetic || isDigit(s[i])) {
                i += 1
            }
            let name = String(String.UnicodeScalarView(s[start..<i]))
            guard !name.isEmpty else { throw Failure("expected a function name at offset \(start)") }
            guard let allowed = ValidationIntrinsicSyntax.arity[name] else {
                throw Failure("unknown intrinsic function \"\(name)\"")
            }
            skipSpaces()
            guard i < s.count, s[i] == "(" else { throw Failure("expected \"(\" after \(name)") }
            i += 1
            depth += 1
            guard depth <= 64 else { throw Failure("intrinsic functions nested too deeply") }
            var count = 0
            skipSpaces()
            if i < s.count && s[i] == ")" {
                i += 1
            } else {
                while true {
                    skipSpaces()
                    try argument()
                    count += 1
                    skipSpaces()
                    guard i < s.count else { throw Failure("missing \")\" to close \(name)(") }
                    if s[i] == "," {
                        i += 1
                        continue
                    }
                    if s[i] == ")" {
                        i += 1
                        break
                    }
                    throw Failure("expected \",\" or \")\" at offset \(i)")
                }
            }
            depth -= 1
            guard allowed.contains(count) else {
                let expected =
                    allowed.upperBound == Int.max
                    ? "at least \(allowed.lowerBound)"
                    : allowed.lowerBound == allowed.upperBound
                        ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) to \(allowed.upperBound)"
                throw Failure("\(name) takes \(expected) argument\(expected == "1" ? "" : "s"), not \(count)")
            }
        }

        mutating func argument() throws(Failure) {
            guard i < s.count else { throw Failure("missing argument") }
            let c = s[i]
            if c == "'" {
                try stringLiteral()
            } else if c == "$" {
                let start = i
                var bracket = 0
                var quote: Unicode.Scalar? = nil
                while i < s.count {
                    let d = s[i]
                    if let q = quote {
                        if d == "\\" {
                            i += 2
                            continue
                        }
                        if d == q { quote = nil }
                    } else if d == "'" || d == "\"" {
                        quote = d
                    } else if d == "[" || d == "(" {
                        bracket += 1
                    } else if d == "]" || (d == ")" && bracket > 0) {
                        bracket -= 1
                    } else if bracket == 0 && (d == "," || d == ")" || d == " ") {
                        break
                    }
                    i += 1
                }
                let path = String(String.UnicodeScalarView(s[start..<min(i, s.count)]))
                if let p = ValidationPathSyntax.problem(in: path) {
                    throw Failure("invalid path argument \"\(path)\": \(p)")
                }
            } else if c == "-" || isDigit(c) {
                let start = i
                if c == "-" { i += 1 }
                var sawDigit = false
                while i < s.count && (isDigit(s[i]) || s[i] == "." || s[i] == "e" || s[i] == "E" || s[i] == "+"
                    || s[i] == "-")
                {
                    if isDigit(s[i]) { sawDigit = true }
                    i += 1
                }
                let text = String(String.UnicodeScalarView(s[start..<i]))
                guard sawDigit, Double(text) != nil else { throw Failure("invalid number \"\(text)\"") }
            } else if c.properties.isAlphabetic {
                let start = i
                while i < s.count && (s[i].properties.isAlphabetic || isDigit(s[i]) || s[i] == "." || s[i] == "_") {
                    i += 1
                }
                let word = String(String.UnicodeScalarView(s[start..<i]))
                if word == "null" || word == "true" || word == "false" { return }
                i = start
                try call()
            } else {
                throw Failure("unexpected \"\(String(c))\" at offset \(i)")
            }
        }

        /// `'...'` where a backslash may escape only `'`, `{`, `}` and `\`.
        mutating func stringLiteral() throws(Failure) {
            i += 1
            while i < s.count {
                let c = s[i]
                if c == "'" {
                    i += 1
                    return
                }
                if c == "\\" {
                    guard i + 1 < s.count else { break }
                    let e = s[i + 1]
                    guard e == "'" || e == "{" || e == "}" || e == "\\" else {
                        throw Failure("illegal escape \"\\\(String(e))\" in a string literal")
                    }
                    i += 2
                    continue
                }
                i += 1
            }
            throw Failure("unterminated string literal")
        }

        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
    }
}

/// Structural checks for JSONata expressions written `{% ... %}`: the delimiters, a non-empty
/// body, balanced brackets and closed string literals. (The expression is not parsed further.)
enum ValidationJSONataSyntax {
    static func isExpression(_ text: String) -> Bool { text.hasPrefix("{%") }

    /// Nil when `text` is a well-formed `{% ... %}` string.
    static func problem(in text: String) -> String? {
        guard text.hasPrefix("{%") else { return "a JSONata expression must start with \"{%\"" }
        guard text.count >= 4, text.hasSuffix("%}") else { return "a JSONata expression must end with \"%}\"" }
        let body = Array(text.unicodeScalars.dropFirst(2).dropLast(2))
        if body.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
            return "the JSONata expression is empty"
        }
        var stack: [Unicode.Scalar] = []
        var quote: Unicode.Scalar? = nil
        var i = 0
        while i < body.count {
            let c = body[i]
            if let q = quote {
                if c == "\\" {
                    i += 2
                    continue
                }
                if c == q { quote = nil }
            } else if c == "/" && i + 1 < body.count && body[i + 1] == "*" {
                // A comment runs to "*/".
                i += 2
                while i + 1 < body.count && !(body[i] == "*" && body[i + 1] == "/") { i += 1 }
                i += 1
            } else if c == "'" || c == "\"" || c == "`" {
                quote = c
            } else if c == "(" || c == "[" || c == "{" {
                stack.append(c)
            } else if c == ")" || c == "]" || c == "}" {
                let open: Unicode.Scalar = c == ")" ? "(" : c == "]" ? "[" : "{"
                guard stack.last == open else { return "unbalanced \"\(String(c))\" in the JSONata expression" }
                stack.removeLast()
            }
            i += 1
        }
        if quote != nil { return "unterminated string in the JSONata expression" }
        if let open = stack.last { return "unclosed \"\(String(open))\" in the JSONata expression" }
        return nil
    }
}
