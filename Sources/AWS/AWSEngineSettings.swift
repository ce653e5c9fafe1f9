public import Foundation
public import Runtime
public import StatesLanguage

/// The `aws` section of bot.yaml or the hook configuration: where `engine: aws` workflows run.
///
/// ```yaml
/// aws:
///   region: eu-west-1
///   role-arn: arn:aws:iam::123456789012:role/stepgate-states   # the state machines' execution role
///   endpoint: https://states.eu-west-1.amazonaws.com/          # optional (a VPC endpoint, a test server)
///   name-prefix: stepgate                                     # state machines and activities are PREFIX-...
///   credentials-file: /etc/stepgate/aws-credentials           # optional; else AWS_ACCESS_KEY_ID/... of the process
///   profile: default                                          # the section of credentials-file
///   poll-interval: 1s                                         # how often a running execution is looked at
///   workers: 4                                                # activity pollers per resource while following
/// ```
/// Credentials are never logged: ``AWSCredentials`` shows only the access key id.
public struct AWSEngineSettings: Sendable, Equatable {
    public var region: String
    public var roleArn: String
    public var endpoint: URL?
    public var namePrefix: String = "stepgate"
    public var credentialsFile: String?
    public var profile: String = "default"
    public var pollInterval: Duration = .seconds(1)
    public var workers: Int = 4

    public init(region: String, roleArn: String, endpoint: URL? = nil) {
        self.region = region
        self.roleArn = roleArn
        self.endpoint = endpoint
    }

    /// The credentials: the process's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, else the
    /// `credentials-file` (AWS's shared credentials format) at `profile`.
    /// - Throws: ``AWSError`` (type `Credentials`), one line naming where they were looked for.
    public func credentials(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AWSError) -> AWSCredentials {
        if let file = credentialsFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw AWSError(operation: "credentials", type: "Credentials", message: "cannot read credentials-file \(file)", status: 0)
            }
            var section = ""
            var values: [String: String] = [:]
            for raw in text.split(whereSeparator: \.isNewline) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("[") && line.hasSuffix("]") {
                    section = String(line.dropFirst().dropLast()).replacingOccurrences(of: "profile ", with: "")
                    continue
                }
                guard section == profile, let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
                values[line[..<eq].trimmingCharacters(in: .whitespaces)] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            }
            guard let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
                throw AWSError(
                    operation: "credentials", type: "Credentials",
                    message: "credentials-file \(file) has no aws_access_key_id and aws_secret_access_key under [\(profile)]", status: 0)
            }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"])
        }
        if let found = AWSCredentials.fromEnvironment(environment) { return found }
        throw AWSError(
            operation: "credentials", type: "Credentials",
            message: "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or aws.credentials-file", status: 0)
    }

    /// Reads the top-level `aws` section; nil when absent.
    /// - Throws: ``PolicyError`` with every problem, located.
    public static func parse(_ document: SourceDocument) throws(PolicyError) -> AWSEngineSettings? {
        guard let value = document.value.objectValue?["aws"], !value.isNull else { return nil }
        var diagnostics: [Diagnostic] = []
        let base: [PathComponent] = [.key("aws")]
        func fail(_ message: String, _ path: [PathComponent], key: Bool = false) {
            diagnostics.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
        }
        guard let object = value.objectValue else {
            throw PolicyError(
                fileName: document.fileName,
                diagnostics: [Diagnostic(.error, "'aws' must be a mapping", at: base).located(in: document.sourceMap)])
        }
        let allowed = ["region", "role-arn", "endpoint", "name-prefix", "credentials-file", "profile", "poll-interval", "workers"]
        var strings: [String: String] = [:]
        for (key, member) in object.pairs {
            guard allowed.contains(key) else {
                fail("unknown key '\(key)' (expected one of: \(allowed.sorted().joined(separator: ", ")))", base + [.key(key)], key: true)
                continue
            }
            if key == "workers" {
                if let n = member.intValue, (1...64).contains(n) { strings[key] = String(n) } else {
                    fail("'workers' must be a whole number from 1 to 64", base + [.key(key)])
                }
            } else if let s = member.stringValue, !s.isEmpty {
                strings[key] = s
            } else {
                fail("'\(key)' must be a non-empty string", base + [.key(key)])
            }
        }
        for key in ["region", "role-arn"] where object[key] == nil {
            fail("missing key '\(key)'", base, key: true)
        }
        var settings = AWSEngineSettings(region: strings["region"] ?? "", roleArn: strings["role-arn"] ?? "")
        if let e = strings["endpoint"] {
            if let url = URL(string: e.hasSuffix("/") ? e : e + "/"), url.scheme == "https" || url.scheme == "http", url.host != nil {
                settings.endpoint = url
            } else {
                fail("'endpoint' must be an http(s) URL", base + [.key("endpoint")])
            }
        }
        if let p = strings["name-prefix"] {
            if p.count <= 24 && p.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                settings.namePrefix = p
            } else {
                fail("'name-prefix' must be at most 24 letters, digits, '-' or '_'", base + [.key("name-prefix")])
            }
        }
        settings.credentialsFile = strings["credentials-file"]
        if let p = strings["profile"] { settings.profile = p }
        if let text = strings["poll-interval"] {
            if let d = Self.duration(text), d >= .milliseconds(50) { settings.pollInterval = d } else {
                fail("'poll-interval' must be a duration of at least 50ms (500ms, 2s)", base + [.key("poll-interval")])
            }
        }
        if let n = strings["workers"].flatMap(Int.init) { settings.workers = n }
        guard diagnostics.isEmpty else {
            throw PolicyError(fileName: document.fileName, diagnostics: diagnostics.map { $0.located(in: document.sourceMap) })
        }
        return settings
    }

    static func duration(_ text: String) -> Duration? {
        for (unit, factor) in [("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(unit) {
            guard let n = Double(text.dropLast(unit.count)), n >= 0 else { return nil }
            return .milliseconds(Int64(n * factor))
        }
        return Double(text).map { .milliseconds(Int64($0 * 1000)) }
    }
}
