/// Syntax checks for the path strings of the JSONPath query language, as the definition
/// validator needs them: no evaluation, only "would AWS accept this text".
///
/// Self-contained on purpose (the runtime parser lives elsewhere and may be unified later).
enum ValidationPathSyntax {
    /// What a path may start with besides `$`.
    struct Allowance: Sendable {
        /// `$$`, the context object.
        var context: Bool
        /// `$name`, a workflow variable.
        var variables: Bool
        /// Only `.name`, `['name']` and `[n]` steps (a Reference Path: definite, no wildcards).
        var referenceOnly: Bool

        static let general = Allowance(context: true, variables: true, referenceOnly: false)
        static let resultPath = Allowance(context: false, variables: false, referenceOnly: true)
    }

    /// Nil when `text` is an acceptable path; otherwise why not.
    static func problem(in text: String, allowing allowance: Allowance = .general) -> String? {
        let s = Array(text.unicodeScalars)
        guard let first = s.first else { return "a path cannot be empty" }
        guard first == "$" else { return "a path must start with \"$\"" }
        var i = 1
        if i < s.count && s[i] == "$" {
            guard allowance.context else { return "the context object \"$$\" cannot be used here" }
            i += 1
        } else if i < s.count && isVariableStart(s[i]) {
            guard allowance.variables else { return "a variable cannot be used here" }
            while i < s.count && isVariableChar(s[i]) { i += 1 }
        }
        while i < s.count {
            let c = s[i]
            if c == "." {
                if i + 1 < s.count && s[i + 1] == "." {
                    if allowance.referenceOnly { return "\"..\" (deep scan) is not allowed in a reference path" }
                    i += 2
                    if i < s.count && s[i] == "[" { continue }
                } else {
                    i += 1
                    // AWS's JSONPath reads `.[0]` as `[0]` (`$.[0]`, `$.Items.[0].Name`).
                    if i < s.count && s[i] == "[" { continue }
                }
                guard i < s.count else { return "a path cannot end with \".\"" }
                if s[i] == "*" {
                    if allowance.referenceOnly { return "\"*\" is not allowed in a reference path" }
                    i += 1
                    continue
                }
                let start = i
                while i < s.count && isNameChar(s[i]) { i += 1 }
                if i == start { return "expected a field name after \".\" at offset \(start)" }
            } else if c == "[" {
                guard let close = matchingBracket(s, from: i) else { return "unbalanced \"[\"" }
                if let p = bracketProblem(Array(s[(i + 1)..<close]), referenceOnly: allowance.referenceOnly) {
                    return p
                }
                i = close + 1
                // After a bracket, AWS's JSONPath reads a name or `*` as if a "." came first
                // (`$.a[0]b` is `$.a[0].b`).
                if i < s.count && s[i] == "*" {
                    if allowance.referenceOnly { return "\"*\" is not allowed in a reference path" }
                    i += 1
                } else if i < s.count && isNameChar(s[i]) {
                    while i < s.count && isNameChar(s[i]) { i += 1 }
                }
            } else {
                return "unexpected \"\(String(c))\" at offset \(i)"
            }
        }
        return nil
    }

    static func isValid(_ text: String, allowing allowance: Allowance = .general) -> Bool {
        problem(in: text, allowing: allowance) == nil
    }

    static func isVariableStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic
    }

    static func isVariableChar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }

    private static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case ".", "[", "]", "(", ")", "'", "\"", ",", "*", " ", "\t", "\n", "\r": return false
        default: return c.value >= 0x20
        }
    }

    /// The index of the `]` that closes the `[` at `start`, honouring quotes and parentheses.
    private static func matchingBracket(_ s: [Unicode.Scalar], from start: Int) -> Int? {
        var depth = 0
        var quote: Unicode.Scalar? = nil
        var i = start
        while i < s.count {
            let c = s[i]
            if let q = quote {
                if c == "\\" {
                    i += 2
                    continue
                }
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "[" || c == "(" {
                depth += 1
            } else if c == "]" || c == ")" {
                depth -= 1
                if depth == 0 { return c == "]" ? i : nil }
                if depth < 0 { return nil }
            }
            i += 1
        }
        return nil
    }

    private static func bracketProblem(_ inner: [Unicode.Scalar], referenceOnly: Bool) -> String? {
        let body = trim(inner)
        guard !body.isEmpty else { return "empty \"[]\"" }
        if body == ["*"] {
            return referenceOnly ? "\"[*]\" is not allowed in a reference path" : nil
        }
        if body[0] == "?" || body[0] == "(" {
            if referenceOnly { return "filter and script expressions are not allowed in a reference path" }
            var rest = body
            if rest[0] == "?" { rest = trim(Array(rest.dropFirst())) }
            guard rest.first == "(", rest.last == ")", rest.count > 2 else {
                return "a filter expression must be written \"?(...)\""
            }
            return balanced(rest) ? nil : "unbalanced parentheses in a filter expression"
        }
        // A list of quoted names, or integers, or one slice.
        let parts = splitTopLevel(body)
        if referenceOnly && parts.count > 1 { return "unions are not allowed in a reference path" }
        for part in parts {
            let p = trim(part)
            guard let f = p.first else { return "empty member in \"[...]\"" }
            if f == "'" || f == "\"" {
                guard p.count >= 2, p.last == f, isClosedQuote(p) else { return "unterminated quoted name" }
                continue
            }
            if p.contains(":") {
                if referenceOnly { return "slices are not allowed in a reference path" }
                let pieces = p.split(separator: ":", omittingEmptySubsequences: false)
                guard pieces.count <= 3 else { return "a slice has at most three parts" }
                for piece in pieces where !piece.isEmpty {
                    guard isInteger(trim(Array(piece))) else { return "a slice bound must be an integer" }
                }
                continue
            }
            guard isInteger(p) else { return "expected an index, a quoted name, \"*\", a slice or a filter in \"[...]\"" }
            if referenceOnly && p.first == "-" { return "negative indexes are not allowed in a reference path" }
        }
        return nil
    }

    private static func isClosedQuote(_ p: [Unicode.Scalar]) -> Bool {
        let q = p[0]
        var i = 1
        while i < p.count - 1 {
            if p[i] == "\\" {
                i += 2
                continue
            }
            if p[i] == q { return false }
            i += 1
        }
        return i == p.count - 1
    }

    private static func isInteger(_ p: [Unicode.Scalar]) -> Bool {
        var digits = p[...]
        if digits.first == "-" { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.allSatisfy { $0.value >= 48 && $0.value <= 57 }
    }

    private static func splitTopLevel(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var parts: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        var quote: Unicode.Scalar? = nil
        var i = 0
        while i < s.count {
            let c = s[i]
            if let q = quote {
                current.append(c)
                if c == "\\" && i + 1 < s.count {
                    current.append(s[i + 1])
                    i += 2
                    continue
                }
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
                current.append(c)
            } else if c == "," {
                parts.append(current)
                current = []
            } else {
                current.append(c)
            }
            i += 1
        }
        parts.append(current)
        return parts
    }

    private static func balanced(_ s: [Unicode.Scalar]) -> Bool {
        var depth = 0
        var quote: Unicode.Scalar? = nil
        var i = 0
        while i < s.count {
            let c = s[i]
            if let q = quote {
                if c == "\\" {
                    i += 2
                    continue
                }
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "(" || c == "[" {
                depth += 1
            } else if c == ")" || c == "]" {
                depth -= 1
                if depth < 0 { return false }
            }
            i += 1
        }
        return depth == 0 && quote == nil
    }

    private static func trim(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var lo = 0
        var hi = s.count
        while lo < hi && (s[lo] == " " || s[lo] == "\t") { lo += 1 }
        while hi > lo && (s[hi - 1] == " " || s[hi - 1] == "\t") { hi -= 1 }
        return Array(s[lo..<hi])
    }
}

/// RFC 3339 timestamps as Step Functions accepts them: uppercase `T`, and `Z` or a numeric offset.
enum ValidationTimestampSyntax {
    static func isValid(_ text: String) -> Bool {
        let s = Array(text.utf8)
        func digits(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= s.count else { return nil }
            var v = 0
            for i in from..<(from + n) {
                guard s[i] >= 48 && s[i] <= 57 else { return nil }
                v = v * 10 + Int(s[i] - 48)
            }
            return v
        }
        func at(_ i: Int, _ c: Character) -> Bool { i < s.count && s[i] == c.asciiValue! }
        guard let year = digits(0, 4), at(4, "-"), let month = digits(5, 2), at(7, "-"), let day = digits(8, 2),
            at(10, "T"), let hour = digits(11, 2), at(13, ":"), let minute = digits(14, 2), at(16, ":"),
            let second = digits(17, 2)
        else { return false }
        guard (1...12).contains(month), hour <= 23, minute <= 59, second <= 60 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1 && day <= monthDays[month - 1] else { return false }
        var i = 19
        if at(i, ".") {
            i += 1
            let start = i
            while i < s.count && s[i] >= 48 && s[i] <= 57 { i += 1 }
            guard i > start else { return false }
        }
        if at(i, "Z") { return i + 1 == s.count }
        guard at(i, "+") || at(i, "-"), let oh = digits(i + 1, 2), at(i + 3, ":"), let om = digits(i + 4, 2) else {
            return false
        }
        return oh <= 23 && om <= 59 && i + 6 == s.count
    }
}
