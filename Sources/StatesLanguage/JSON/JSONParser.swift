/// A syntax error in JSON text, with where it is.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation

    public var description: String { "\(location.line):\(location.column): \(message)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes that can record where every member is.
///
/// It is written by hand (not JSONSerialization) for two reasons: diagnostics need line and
/// column for each member, and the engine parses JSON on hot paths (`States.StringToJson`,
/// task output) where Foundation's bridging costs more than the parse.
public struct JSONParser {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private let recording: Bool
    private var map = SourceMap()
    private var path: [PathComponent] = []
    private var depth = 0
    private static let maxDepth = 512

    private init(bytes: [UInt8], recording: Bool) {
        self.bytes = bytes
        self.recording = recording
    }

    /// Parses a complete JSON text.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSON {
        var p = JSONParser(bytes: Array(text.utf8), recording: false)
        return try p.parseDocument()
    }

    /// Parses a complete JSON text from bytes.
    public static func parse(bytes: [UInt8]) throws(JSONSyntaxError) -> JSON {
        var p = JSONParser(bytes: bytes, recording: false)
        return try p.parseDocument()
    }

    /// Parses a complete JSON text and records the position of every member.
    public static func parseDocument(_ text: String, fileName: String) throws(JSONSyntaxError) -> SourceDocument {
        var p = JSONParser(bytes: Array(text.utf8), recording: true)
        let value = try p.parseDocument()
        return SourceDocument(fileName: fileName, value: value, sourceMap: p.map)
    }

    // MARK: - Grammar

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSON {
        // A UTF-8 byte order mark is tolerated, as most editors may write one.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { pos = 3 }
        skipWhitespace()
        guard pos < bytes.count else { throw error("empty document: expected a JSON value") }
        let value = try parseValue(key: nil)
        skipWhitespace()
        if pos < bytes.count { throw error("unexpected '\(describe(bytes[pos]))' after the JSON value") }
        return value
    }

    private mutating func parseValue(key: SourceLocation?) throws(JSONSyntaxError) -> JSON {
        if recording { map.record(path, key: key, value: location) }
        guard pos < bytes.count else { throw error("unexpected end of input: expected a value") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected '\(describe(bytes[pos]))': expected a value")
        }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSON {
        try enter()
        pos += 1
        var object = JSONObject()
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            pos += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[pos] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found '\(describe(bytes[pos]))'")
            }
            let keyLocation = location
            let key = try parseString()
            // AWS refuses a definition whose object names a key twice; so do documents here.
            if recording && object.position(of: key) != nil {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\" in an object", location: keyLocation)
            }
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw error("expected ':' after the key \"\(key)\"") }
            pos += 1
            skipWhitespace()
            if recording { path.append(.key(key)) }
            let value = try parseValue(key: keyLocation)
            if recording { path.removeLast() }
            object.append(key, value)
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an object") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                break
            }
            throw error("expected ',' or '}' in an object, found '\(describe(bytes[pos]))'")
        }
        depth -= 1
        return .object(object)
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSON {
        try enter()
        pos += 1
        var array: [JSON] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            pos += 1
            depth -= 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            if recording { path.append(.index(array.count)) }
            array.append(try parseValue(key: nil))
            if recording { path.removeLast() }
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                break
            }
            throw error("expected ',' or ']' in an array, found '\(describe(bytes[pos]))'")
        }
        depth -= 1
        return .array(array)
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<pos], as: UTF8.self)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in a string (escape it)") }
            pos += 1
        }
        var out = Array(bytes[start..<pos])
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw error("control character in a string (escape it)") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800..<0xDC00).contains(scalar), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                    bytes[pos + 1] == UInt8(ascii: "u")
                {
                    pos += 2
                    let low = try parseHex4()
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        appendScalar(0xFFFD, to: &out)
                        scalar = low
                    }
                }
                appendScalar(scalar, to: &out)
            default:
                pos -= 1
                throw error("invalid escape '\\\(describe(e))' in a string")
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    private func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        out.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSON {
        let start = pos
        var isInteger = true
        if peek(UInt8(ascii: "-")) { pos += 1 }
        guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected a digit") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < bytes.count, isDigit(bytes[pos]) { throw error("invalid number: leading zero") }
        } else {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if peek(UInt8(ascii: ".")) {
            isInteger = false
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected a digit after '.'") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: expected an exponent") }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("invalid number '\(text)'") }
        return .double(d)
    }

    // MARK: - Helpers

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting deeper than \(Self.maxDepth) levels") }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private func peek(_ b: UInt8) -> Bool { pos < bytes.count && bytes[pos] == b }

    private mutating func expectWord(_ word: StaticString) throws(JSONSyntaxError) {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard pos + w.count <= bytes.count, bytes[pos..<(pos + w.count)].elementsEqual(w) else {
            throw error("invalid literal: expected '\(word)'")
        }
        pos += w.count
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                pos += 1
            case UInt8(ascii: "\n"):
                pos += 1
                line += 1
                lineStart = pos
            default:
                return
            }
        }
    }

    /// The current position; the column counts Unicode scalars, not bytes.
    private var location: SourceLocation {
        var column = 1
        var i = lineStart
        while i < pos && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return SourceLocation(line: line, column: column)
    }

    private func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, location: location)
    }

    private func describe(_ b: UInt8) -> String {
        if b >= 0x20 && b < 0x7F { return String(UnicodeScalar(b)) }
        let hex = Array("0123456789ABCDEF")
        return "\\x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 0xF)])
    }
}
