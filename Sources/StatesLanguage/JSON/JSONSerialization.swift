extension JSON {
    /// Compact JSON text, keys in insertion order, as AWS prints execution output and
    /// `States.JsonToString` results (no spaces; non-ASCII characters left as they are).
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Indented JSON text for people (two spaces, `"key": value`).
    public func prettyPrinted(indent: String = "  ") -> String {
        var out = ""
        writePretty(to: &out, level: 0, indent: indent)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += JSON.format(d)
        case .string(let s): JSON.writeQuoted(s, to: &out)
        case .array(let a):
            out += "["
            var first = true
            for v in a {
                if !first { out += "," }
                first = false
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            var first = true
            for (k, v) in o.pairs {
                if !first { out += "," }
                first = false
                JSON.writeQuoted(k, to: &out)
                out += ":"
                v.write(to: &out)
            }
            out += "}"
        }
    }

    private func writePretty(to out: inout String, level: Int, indent: String) {
        switch self {
        case .array(let a) where !a.isEmpty:
            out += "[\n"
            for (i, v) in a.enumerated() {
                out += String(repeating: indent, count: level + 1)
                v.writePretty(to: &out, level: level + 1, indent: indent)
                out += i == a.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: indent, count: level) + "]"
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            var i = 0
            for (k, v) in o.pairs {
                out += String(repeating: indent, count: level + 1)
                JSON.writeQuoted(k, to: &out)
                out += ": "
                v.writePretty(to: &out, level: level + 1, indent: indent)
                i += 1
                out += i == o.count ? "\n" : ",\n"
            }
            out += String(repeating: indent, count: level) + "}"
        default:
            write(to: &out)
        }
    }

    /// A double as JSON text: integral values keep a `.0`, non-finite values become null.
    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d.rounded() == d, abs(d) < 1e16 { return String(Int(d)) + ".0" }
        return "\(d)"
    }

    static func writeQuoted(_ s: String, to out: inout String) {
        out += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
            needsEscape = true
            break
        }
        if !needsEscape {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = Array("0123456789abcdef")
                    out += "\\u00" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 0xF)])
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized }
}
