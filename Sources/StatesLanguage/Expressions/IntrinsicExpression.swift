import Foundation

/// A compiled intrinsic function call such as `States.Format('{} {}', $.a, States.ArrayLength($.b))`.
///
/// Parsed once: function names and argument counts are checked here; argument types are checked
/// at evaluation, where AWS checks them (`States.Runtime`, "Invalid arguments in States.X").
public struct IntrinsicExpression: Sendable, Hashable, CustomStringConvertible {
    let call: IntrinsicCall
    public let description: String

    public static func parse(_ text: String) throws(PathSyntaxError) -> IntrinsicExpression {
        var parser = IntrinsicParser(text)
        let call = try parser.parseCall()
        parser.skipSpaces()
        guard parser.atEnd else { throw parser.fail("unexpected text after the closing ')'") }
        return IntrinsicExpression(call: call, description: text)
    }

    /// Whether `text` looks like an intrinsic function call (rather than a path).
    public static func looksLikeCall(_ text: String) -> Bool { text.hasPrefix("States.") }

    public static func == (lhs: IntrinsicExpression, rhs: IntrinsicExpression) -> Bool {
        lhs.description == rhs.description
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public func evaluate(in scope: EvaluationScope) throws(ExecutionError) -> JSON {
        try call.evaluate(in: scope, field: nil)
    }

    /// Evaluates with the name of the payload field that holds the call (`'a.$'`), used in causes.
    public func evaluate(in scope: EvaluationScope, field: String?) throws(ExecutionError) -> JSON {
        try call.evaluate(in: scope, field: field)
    }
}

// MARK: - Compiled form

enum IntrinsicFunction: String, Sendable, CaseIterable {
    case format = "States.Format"
    case stringToJson = "States.StringToJson"
    case jsonToString = "States.JsonToString"
    case array = "States.Array"
    case arrayPartition = "States.ArrayPartition"
    case arrayContains = "States.ArrayContains"
    case arrayRange = "States.ArrayRange"
    case arrayGetItem = "States.ArrayGetItem"
    case arrayLength = "States.ArrayLength"
    case arrayUnique = "States.ArrayUnique"
    case base64Encode = "States.Base64Encode"
    case base64Decode = "States.Base64Decode"
    case hash = "States.Hash"
    case jsonMerge = "States.JsonMerge"
    case mathRandom = "States.MathRandom"
    case mathAdd = "States.MathAdd"
    case stringSplit = "States.StringSplit"
    case uuid = "States.UUID"

    var arity: ClosedRange<Int> {
        switch self {
        case .format: return 1...Int.max
        case .array: return 0...Int.max
        case .stringToJson, .jsonToString, .arrayLength, .arrayUnique, .base64Encode, .base64Decode: return 1...1
        case .arrayPartition, .arrayContains, .arrayGetItem, .hash, .mathAdd, .stringSplit: return 2...2
        case .arrayRange, .jsonMerge: return 3...3
        case .mathRandom: return 2...3
        case .uuid: return 0...0
        }
    }
}

/// A piece of a `States.Format` template.
enum FormatPiece: Sendable, Hashable {
    case text(String)
    case placeholder
}

enum IntrinsicArgument: Sendable {
    case literal(JSON)
    case path(JSONPath)
    case call(IntrinsicCall)
}

struct IntrinsicCall: Sendable {
    let function: IntrinsicFunction
    let arguments: [IntrinsicArgument]
    /// For `States.Format` with a literal template: its pieces, or why it is malformed.
    let template: Result<[FormatPiece], FormatTemplateError>?
}

struct FormatTemplateError: Error, Sendable, Hashable {
    var message: String
}

// MARK: - Parser

struct IntrinsicParser {
    let text: String
    let chars: [Character]
    var pos = 0
    var depth = 0

    init(_ text: String) {
        self.text = text
        self.chars = Array(text)
    }

    func fail(_ why: String) -> PathSyntaxError {
        PathSyntaxError("Invalid intrinsic function call '\(text)': \(why)")
    }

    var atEnd: Bool { pos >= chars.count }
    var current: Character? { pos < chars.count ? chars[pos] : nil }

    mutating func skipSpaces() {
        while let c = current, c == " " || c == "\t" || c == "\n" || c == "\r" { pos += 1 }
    }

    mutating func parseCall() throws(PathSyntaxError) -> IntrinsicCall {
        skipSpaces()
        let start = pos
        while let c = current, c != "(", c != " " { pos += 1 }
        let name = String(chars[start..<pos])
        guard let function = IntrinsicFunction(rawValue: name) else {
            throw fail("unknown function '\(name)'")
        }
        skipSpaces()
        guard current == "(" else { throw fail("expected '(' after \(name)") }
        pos += 1
        depth += 1
        guard depth <= 10 else { throw fail("intrinsic functions nest at most 10 deep") }
        var arguments: [IntrinsicArgument] = []
        var template: Result<[FormatPiece], FormatTemplateError>? = nil
        skipSpaces()
        if current == ")" {
            pos += 1
        } else {
            while true {
                skipSpaces()
                let (argument, pieces) = try parseArgument()
                if function == .format, arguments.isEmpty, let pieces { template = pieces }
                arguments.append(argument)
                skipSpaces()
                guard let c = current else { throw fail("missing ')'") }
                pos += 1
                if c == ")" { break }
                guard c == "," else { throw fail("expected ',' or ')' but found '\(c)'") }
            }
        }
        depth -= 1
        guard function.arity.contains(arguments.count) else {
            throw fail("\(name) takes \(Self.describe(function.arity)) but was given \(arguments.count)")
        }
        if function == .format, case .literal(let first) = arguments[0], first.stringValue == nil {
            throw fail("the first argument of States.Format must be a string")
        }
        return IntrinsicCall(function: function, arguments: arguments, template: template)
    }

    static func describe(_ arity: ClosedRange<Int>) -> String {
        if arity.upperBound == Int.max { return "at least \(arity.lowerBound) argument(s)" }
        if arity.lowerBound == arity.upperBound { return "\(arity.lowerBound) argument(s)" }
        return "\(arity.lowerBound) to \(arity.upperBound) arguments"
    }

    mutating func parseArgument() throws(PathSyntaxError) -> (IntrinsicArgument, Result<[FormatPiece], FormatTemplateError>?) {
        guard let c = current else { throw fail("missing argument") }
        switch c {
        case "'":
            let (value, pieces) = try parseString()
            return (.literal(.string(value)), pieces)
        case "$":
            let start = pos
            var bracket = 0
            var quote: Character? = nil
            while let d = current {
                if let q = quote {
                    if d == "\\" { pos += 1 } else if d == q { quote = nil }
                } else if d == "'" || d == "\"" {
                    quote = d
                } else if d == "[" {
                    bracket += 1
                } else if d == "]" {
                    bracket -= 1
                } else if bracket == 0, d == "," || d == ")" {
                    break
                }
                pos += 1
            }
            var end = pos
            while end > start, chars[end - 1] == " " { end -= 1 }
            let pathText = String(chars[start..<min(end, chars.count)])
            return (.path(try JSONPath.parse(pathText)), nil)
        case "S":
            return (.call(try parseCall()), nil)
        default:
            let start = pos
            while let d = current, d != ",", d != ")", d != " " { pos += 1 }
            let word = String(chars[start..<pos])
            switch word {
            case "true": return (.literal(.bool(true)), nil)
            case "false": return (.literal(.bool(false)), nil)
            case "null": return (.literal(.null), nil)
            default:
                if word.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), let i = Int(word) {
                    return (.literal(.int(i)), nil)
                }
                if word.allSatisfy({ $0.isASCII && ($0.isNumber || "-+.eE".contains($0)) }),
                    let d = Double(word), d.isFinite
                {
                    return (.literal(.double(d)), nil)
                }
                throw fail("invalid argument '\(word)'")
            }
        }
    }

    /// A string literal in single quotes; `\'`, `\{`, `\}` and `\\` are its only escapes.
    /// Returns its value and, read as a `States.Format` template, its pieces.
    mutating func parseString() throws(PathSyntaxError) -> (String, Result<[FormatPiece], FormatTemplateError>) {
        pos += 1
        var value = ""
        var pieces: [FormatPiece] = []
        var text = ""
        var malformed: String? = nil
        while let c = current {
            pos += 1
            switch c {
            case "\\":
                guard let e = current, e == "'" || e == "{" || e == "}" || e == "\\" else {
                    throw fail("invalid escape sequence in a string literal")
                }
                pos += 1
                value.append(e)
                text.append(e)
            case "'":
                if !text.isEmpty { pieces.append(.text(text)) }
                if let malformed { return (value, .failure(FormatTemplateError(message: malformed))) }
                return (value, .success(pieces))
            case "{":
                value.append(c)
                if current == "}" {
                    pos += 1
                    value.append("}")
                    if !text.isEmpty { pieces.append(.text(text)) }
                    text = ""
                    pieces.append(.placeholder)
                } else {
                    text.append(c)
                    malformed = malformed ?? "unmatched '{'"
                }
            case "}":
                value.append(c)
                text.append(c)
                malformed = malformed ?? "unmatched '}'"
            default:
                value.append(c)
                text.append(c)
            }
        }
        throw fail("unterminated string literal")
    }

    /// Reads a template that came from the input (no escapes).
    static func templatePieces(_ s: String) -> Result<[FormatPiece], FormatTemplateError> {
        var pieces: [FormatPiece] = []
        var text = ""
        var it = Array(s)[...]
        while let c = it.popFirst() {
            if c == "{" {
                guard it.first == "}" else { return .failure(FormatTemplateError(message: "unmatched '{'")) }
                it.removeFirst()
                if !text.isEmpty { pieces.append(.text(text)) }
                text = ""
                pieces.append(.placeholder)
            } else if c == "}" {
                return .failure(FormatTemplateError(message: "unmatched '}'"))
            } else {
                text.append(c)
            }
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        return .success(pieces)
    }
}

// MARK: - Evaluation

extension IntrinsicCall {
    func invalid() -> ExecutionError {
        .runtime("Invalid arguments in \(function.rawValue)")
    }

    func evaluateArgument(_ a: IntrinsicArgument, in scope: EvaluationScope, field: String?) throws(ExecutionError) -> JSON {
        switch a {
        case .literal(let v): return v
        case .call(let c): return try c.evaluate(in: scope, field: field)
        case .path(let p):
            guard let v = p.evaluate(in: scope) else {
                let f = field.map { " for the field '\($0)'" } ?? ""
                throw .runtime("The JsonPath argument\(f) could not be found in the input '\(scope.input.serialized)'")
            }
            return v
        }
    }

    func evaluate(in scope: EvaluationScope, field: String?) throws(ExecutionError) -> JSON {
        // The hot two-argument case (States.MathAdd in loops) avoids building an array.
        if function == .mathAdd {
            let a = try evaluateArgument(arguments[0], in: scope, field: field)
            let b = try evaluateArgument(arguments[1], in: scope, field: field)
            return try mathAdd(a, b)
        }
        var args: [JSON] = []
        args.reserveCapacity(arguments.count)
        for a in arguments { args.append(try evaluateArgument(a, in: scope, field: field)) }

        switch function {
        case .format: return try format(args)
        case .stringToJson:
            guard case .string(let s) = args[0] else { throw invalid() }
            let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { return .null }
            do { return try JSONParser.parse(trimmed) } catch { throw invalid() }
        case .jsonToString:
            return .string(args[0].serialized)
        case .array:
            return .array(args)
        case .arrayPartition:
            guard case .array(let a) = args[0], let size = Self.truncated(args[1]), size > 0 else { throw invalid() }
            var chunks: [JSON] = []
            chunks.reserveCapacity((a.count + size - 1) / size)
            var i = 0
            while i < a.count {
                chunks.append(.array(Array(a[i..<min(i + size, a.count)])))
                i += size
            }
            return .array(chunks)
        case .arrayContains:
            guard case .array(let a) = args[0] else { throw invalid() }
            return .bool(a.contains(args[1]))
        case .arrayRange:
            guard let first = Self.truncated(args[0]), let last = Self.truncated(args[1]),
                let step = Self.truncated(args[2]), step != 0
            else { throw invalid() }
            let count = step > 0 ? (last >= first ? (last - first) / step + 1 : 0) : (first >= last ? (first - last) / -step + 1 : 0)
            guard count <= 1000 else { throw invalid() }
            var out: [JSON] = []
            out.reserveCapacity(count)
            var v = first
            for _ in 0..<count {
                out.append(.int(v))
                v += step
            }
            return .array(out)
        case .arrayGetItem:
            guard case .array(let a) = args[0], let index = Self.truncated(args[1]), index >= 0 else { throw invalid() }
            if a.isEmpty { return .null }
            guard index < a.count else { throw invalid() }
            return a[index]
        case .arrayLength:
            guard case .array(let a) = args[0] else { throw invalid() }
            return .int(a.count)
        case .arrayUnique:
            guard case .array(let a) = args[0] else { throw invalid() }
            var seen = Set<JSON>()
            var out: [JSON] = []
            for v in a where seen.insert(v).inserted { out.append(v) }
            return .array(out)
        case .base64Encode:
            guard case .string(let s) = args[0], s.count <= 10_000 else { throw invalid() }
            return .string(Data(s.utf8).base64EncodedString())
        case .base64Decode:
            guard case .string(let s) = args[0], s.count <= 10_000 else { throw invalid() }
            return .string(try base64Decode(s))
        case .hash:
            guard case .string(let data) = args[0], case .string(let algorithm) = args[1], data.count <= 10_000 else {
                throw invalid()
            }
            let bytes = Array(data.utf8)
            let digest: [UInt8]
            switch algorithm {
            case "MD5": digest = Digest.md5(bytes)
            case "SHA-1": digest = Digest.sha1(bytes)
            case "SHA-256": digest = Digest.sha256(bytes)
            case "SHA-384": digest = Digest.sha384(bytes)
            case "SHA-512": digest = Digest.sha512(bytes)
            default: throw invalid()
            }
            return .string(Digest.hex(digest))
        case .jsonMerge:
            guard case .object(var a) = args[0], case .object(let b) = args[1], case .bool(false) = args[2] else {
                throw invalid()
            }
            for (k, v) in b.pairs { a[k] = v }
            return .object(a)
        case .mathRandom:
            return try mathRandom(args, scope: scope)
        case .mathAdd:
            return try mathAdd(args[0], args[1])
        case .stringSplit:
            guard case .string(let s) = args[0], case .string(let separators) = args[1] else { throw invalid() }
            let set = Set(separators.unicodeScalars)
            var out: [JSON] = []
            var piece = String.UnicodeScalarView()
            for u in s.unicodeScalars {
                if set.contains(u) {
                    if !piece.isEmpty { out.append(.string(String(piece))) }
                    piece = String.UnicodeScalarView()
                } else {
                    piece.append(u)
                }
            }
            if !piece.isEmpty { out.append(.string(String(piece))) }
            return .array(out)
        case .uuid:
            return .string(Self.uuid(scope.random(), scope.random()))
        }
    }

    /// An integral value from a number, fractions truncated toward zero as AWS does.
    static func truncated(_ v: JSON) -> Int? {
        switch v {
        case .int(let i): return i
        case .double(let d):
            guard d.isFinite, abs(d) < 9.0e18 else { return nil }
            return Int(d.rounded(.towardZero))
        default: return nil
        }
    }

    /// Java's `Math.round`: halves go up (toward positive infinity).
    static func roundHalfUp(_ v: JSON) -> Int? {
        switch v {
        case .int(let i): return i
        case .double(let d):
            guard d.isFinite, abs(d) < 9.0e18 else { return nil }
            return Int((d + 0.5).rounded(.down))
        default: return nil
        }
    }

    func mathAdd(_ a: JSON, _ b: JSON) throws(ExecutionError) -> JSON {
        if case .int(let x) = a, case .int(let y) = b {
            let (sum, overflow) = x.addingReportingOverflow(y)
            if !overflow { return .int(sum) }
            throw invalid()
        }
        guard let x = Self.roundHalfUp(a), let y = Self.roundHalfUp(b) else { throw invalid() }
        let (sum, overflow) = x.addingReportingOverflow(y)
        guard !overflow else { throw invalid() }
        return .int(sum)
    }

    func mathRandom(_ args: [JSON], scope: EvaluationScope) throws(ExecutionError) -> JSON {
        guard let start = Self.roundHalfUp(args[0]), let end = Self.roundHalfUp(args[1]), start < end else {
            throw invalid()
        }
        let (range, overflow) = end.subtractingReportingOverflow(start)
        guard !overflow, range > 0 else { throw invalid() }
        if args.count == 3 {
            guard let seed = Self.roundHalfUp(args[2]) else { throw invalid() }
            guard range <= Int(Int32.max) else { throw invalid() }
            var random = JavaRandom(seed: Int64(seed))
            return .int(start + Int(random.nextInt(Int32(range))))
        }
        return .int(start + Int(scope.random() % UInt64(range)))
    }

    func base64Decode(_ s: String) throws(ExecutionError) -> String {
        // AWS decodes leniently: characters outside the alphabet are skipped, padding is optional.
        var clean = ""
        clean.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "A"..."Z", "a"..."z", "0"..."9", "+", "/": clean.unicodeScalars.append(u)
            case "-": clean.unicodeScalars.append("+")
            case "_": clean.unicodeScalars.append("/")
            default: continue
            }
        }
        if clean.utf8.count % 4 == 1 { clean.removeLast() }
        while clean.utf8.count % 4 != 0 { clean.append("=") }
        guard let data = Data(base64Encoded: clean) else { throw invalid() }
        return String(decoding: data, as: UTF8.self)
    }

    func format(_ args: [JSON]) throws(ExecutionError) -> JSON {
        let pieces: [FormatPiece]
        switch template {
        case .success(let p)?: pieces = p
        case .failure?: throw invalid()
        case nil:
            guard case .string(let s) = args[0] else { throw invalid() }
            switch IntrinsicParser.templatePieces(s) {
            case .success(let p): pieces = p
            case .failure: throw invalid()
            }
        }
        var placeholders = 0
        for p in pieces where p == .placeholder { placeholders += 1 }
        guard placeholders == args.count - 1 else {
            throw .runtime("Invalid arguments in States.Format: number of arguments do not match the occurrences of {}")
        }
        var out = ""
        var next = 1
        for p in pieces {
            switch p {
            case .text(let t): out += t
            case .placeholder:
                Self.formatValue(args[next], into: &out)
                next += 1
            }
        }
        return .string(out)
    }

    /// How `States.Format` prints a value: strings raw, objects `{k=v, k2=v2}`, arrays `[a, b]`.
    static func formatValue(_ v: JSON, into out: inout String) {
        switch v {
        case .string(let s): out += s
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += ", " }
                formatValue(e, into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            var first = true
            for (k, e) in o.pairs {
                if !first { out += ", " }
                first = false
                out += k
                out += "="
                formatValue(e, into: &out)
            }
            out += "}"
        default:
            v.write(to: &out)
        }
    }

    static func uuid(_ a: UInt64, _ b: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i)))
            bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Digest.hex(bytes)
        let h = Array(hex)
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-"
            + String(h[20..<32])
    }
}

/// `java.util.Random`, so that a seeded `States.MathRandom` gives what a JVM gives.
struct JavaRandom {
    private var seed: UInt64
    private static let multiplier: UInt64 = 0x5_DEEC_E66D
    private static let mask: UInt64 = (1 << 48) - 1

    init(seed: Int64) {
        self.seed = (UInt64(bitPattern: seed) ^ Self.multiplier) & Self.mask
    }

    mutating func next(_ bits: Int) -> Int32 {
        seed = (seed &* Self.multiplier &+ 0xB) & Self.mask
        return Int32(truncatingIfNeeded: Int64(bitPattern: seed) >> (48 - bits))
    }

    mutating func nextInt(_ bound: Int32) -> Int32 {
        if bound & -bound == bound {
            return Int32(truncatingIfNeeded: (Int64(bound) &* Int64(next(31))) >> 31)
        }
        while true {
            let bits = next(31)
            let value = bits % bound
            if bits &- value &+ (bound &- 1) >= 0 { return value }
        }
    }
}
