import Foundation

/// Deploy-time placeholders in a definition (`"Resource": "${HelloFunctionArn}"`,
/// `"arn:${AWS::Partition}:states:::sns:publish"`), as SAM's `DefinitionSubstitutions`,
/// CloudFormation's `DefinitionSubstitutions` and Terraform's `templatefile` leave them in the
/// files users keep, and the values that replace them.
///
/// A placeholder is `${KEY}` inside a string value, where KEY is not empty and holds no
/// whitespace, `$`, `{`, `}` or quote, and does not start with `!` (CloudFormation's escape for
/// a literal `${...}`). Substitution replaces every placeholder whose key has a value and leaves
/// the others as written.
public struct DefinitionSubstitutions: Sendable, Equatable {
    /// The value of each key.
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) {
        self.values = values
    }

    /// The values CloudFormation always provides (its pseudo parameters), used by the validator
    /// to check a Resource ARN that holds them and, unless given, by local runs.
    public static let pseudoParameters: [String: String] = [
        "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
        "AWS::URLSuffix": "amazonaws.com",
    ]

    /// These values with CloudFormation's pseudo parameters filled in where they are not given.
    public var withPseudoParameters: DefinitionSubstitutions {
        DefinitionSubstitutions(values.merging(Self.pseudoParameters) { given, _ in given })
    }

    /// The same keys and values with `other`'s winning where both have a key.
    public func overridden(by other: DefinitionSubstitutions) -> DefinitionSubstitutions {
        DefinitionSubstitutions(values.merging(other.values) { _, new in new })
    }

    // MARK: Applying

    /// `text` with every placeholder that has a value replaced.
    public func apply(to text: String) -> String {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let (range, key) = Self.nextPlaceholder(in: rest) {
            out += rest[rest.startIndex..<range.lowerBound]
            out += values[key] ?? String(rest[range])
            rest = rest[range.upperBound...]
        }
        return out + rest
    }

    /// Every string value of `value` substituted (object keys stay as written).
    public func apply(to value: JSON) -> JSON {
        switch value {
        case .string(let s): return .string(apply(to: s))
        case .array(let items): return .array(items.map { apply(to: $0) })
        case .object(let o):
            var out = JSONObject()
            out.reserveCapacity(o.count)
            for (k, v) in o.pairs { out.append(k, apply(to: v)) }
            return .object(out)
        default: return value
        }
    }

    /// The document with every string value substituted; positions stay those of the text as
    /// written, so diagnostics still point into the user's file.
    public func apply(to document: SourceDocument) -> SourceDocument {
        guard !values.isEmpty else { return document }
        var d = document
        d.value = apply(to: document.value)
        return d
    }

    // MARK: Finding

    /// The keys of the placeholders in `text`, in order, each once.
    public static func keys(in text: String) -> [String] {
        var keys: [String] = []
        var rest = Substring(text)
        while let (range, key) = nextPlaceholder(in: rest) {
            if !keys.contains(key) { keys.append(key) }
            rest = rest[range.upperBound...]
        }
        return keys
    }

    /// The first `${KEY}` in `text`: its range and key.
    static func nextPlaceholder(in text: Substring) -> (Range<Substring.Index>, String)? {
        var search = text[...]
        while let open = search.range(of: "${") {
            let afterOpen = open.upperBound
            guard let close = search[afterOpen...].firstIndex(of: "}") else { return nil }
            let key = search[afterOpen..<close]
            if isKey(key) { return (open.lowerBound..<search.index(after: close), String(key)) }
            search = search[afterOpen...]
        }
        return nil
    }

    /// Whether `key` can be written as a placeholder, `${key}`.
    public static func isKey(_ key: String) -> Bool { isKey(key[...]) }

    private static func isKey(_ key: Substring) -> Bool {
        guard let first = key.unicodeScalars.first, first != "!" else { return false }
        return !key.unicodeScalars.contains {
            $0.properties.isWhitespace || $0 == "$" || $0 == "{" || $0 == "}" || $0 == "\"" || $0 == "'" || $0.value < 0x20
        }
    }
}
