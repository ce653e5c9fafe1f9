/// The items of an object an ItemReader reads, as `ReaderConfig.InputType` says: a JSON array,
/// JSON Lines, or CSV rows (objects of strings keyed by the header).
enum ItemFormats {
    struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    static func items(
        _ bytes: [UInt8], inputType: String, headerLocation: String?, headers: [String]?, delimiter: String?
    ) throws(Failure) -> [JSON] {
        switch inputType {
        case "JSON":
            let value: JSON
            do { value = try JSONParser.parse(bytes: bytes) } catch {
                throw Failure("the object is not valid JSON (\(error.location.line):\(error.location.column): \(error.message))")
            }
            guard case .array(let items) = value else {
                throw Failure("the object holds \(value.typeName == "object" ? "an" : "a") \(value.typeName), not a JSON array of items")
            }
            return items
        case "JSONL":
            var items: [JSON] = []
            for (n, line) in lines(bytes).enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                do { items.append(try JSONParser.parse(bytes: Array(line))) } catch {
                    throw Failure("line \(n + 1) of the object is not valid JSON: \(error.message)")
                }
            }
            return items
        case "CSV":
            return try csv(bytes, headerLocation: headerLocation ?? "FIRST_ROW", headers: headers, delimiter: delimiter ?? "COMMA")
        default:
            throw Failure("InputType \(inputType) cannot be read locally (JSON, JSONL and CSV can)")
        }
    }

    /// The byte lines of a text, without their `\n` or `\r\n`.
    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if out.last?.isEmpty == true { out.removeLast() }
        return out.map { $0.last == 0x0D ? $0.dropLast() : $0 }
    }

    static let delimiters: [String: Character] = ["COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"]

    static func csv(_ bytes: [UInt8], headerLocation: String, headers given: [String]?, delimiter name: String) throws(Failure) -> [JSON] {
        guard var text = String(validating: bytes, as: UTF8.self) else { throw Failure("the CSV object is not UTF-8 text") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        guard let delimiter = delimiters[name] else { throw Failure("CSVDelimiter \(name) is not one of \(delimiters.keys.sorted().joined(separator: ", "))") }
        var rows = try records(text, delimiter: delimiter)
        let header: [String]
        if headerLocation == "GIVEN" {
            guard let given, !given.isEmpty else { throw Failure("CSVHeaderLocation GIVEN needs CSVHeaders") }
            header = given
        } else {
            guard !rows.isEmpty else { return [] }
            header = rows.removeFirst()
        }
        return rows.map { row in
            var o = JSONObject()
            for (i, name) in header.enumerated() { o[name] = .string(i < row.count ? row[i] : "") }
            return .object(o)
        }
    }

    /// RFC 4180 records: fields quoted with `"` may hold the delimiter, line breaks and `""`.
    static func records(_ text: String, delimiter: Character) throws(Failure) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var atFieldStart = true
        var chars = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending {
                pending = nil
                return p
            }
            return chars.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else {
                            quoted = false
                            pending = n
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                quoted = true
                atFieldStart = false
            case delimiter:
                row.append(field)
                field = ""
                atFieldStart = true
            case "\n", "\r\n", "\r":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
                atFieldStart = true
            default:
                field.append(c)
                atFieldStart = false
            }
        }
        if quoted { throw Failure("the CSV object ends inside a quoted field") }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
