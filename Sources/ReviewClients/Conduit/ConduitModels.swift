// Codable models of the Conduit calls the bot makes, with Phorge's JSON names.

/// A `*.search` answer page: `data` plus the paging `cursor`.
public struct ConduitSearchPage<Item: Decodable & Sendable>: Decodable, Sendable {
    public var data: [Item]
    public var cursor: ConduitCursor
}

/// A search cursor: `after` is the value to send for the next page, `nil` on the last page.
public struct ConduitCursor: Decodable, Sendable, Hashable {
    public var limit: Int?
    public var after: String?
    public var before: String?
    public var order: String?

    enum CodingKeys: String, CodingKey { case limit, after, before, order }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        limit = try? c.decodeIfPresent(Int.self, forKey: .limit)
        after = Self.stringOrNumber(c, .after)
        before = Self.stringOrNumber(c, .before)
        order = try? c.decodeIfPresent(String.self, forKey: .order)
    }

    private static func stringOrNumber(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> String? {
        if let s = try? c.decodeIfPresent(String.self, forKey: key) { return s }
        if let n = try? c.decodeIfPresent(Int.self, forKey: key) { return String(n) }
        return nil
    }
}

/// A `*.search` result row: `{"id", "type", "phid", "fields", "attachments"}`. PHP encodes an empty attachment map
/// as `[]`: attachments that cannot be read count as not attached.
struct ConduitObject<Fields: Decodable, Attachments: Decodable>: Decodable {
    var id: Int
    var type: String?
    var phid: String
    var fields: Fields
    var attachments: Attachments?

    enum CodingKeys: String, CodingKey { case id, type, phid, fields, attachments }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        type = try c.decodeIfPresent(String.self, forKey: .type)
        phid = try c.decode(String.self, forKey: .phid)
        fields = try c.decode(Fields.self, forKey: .fields)
        attachments = (try? c.decodeIfPresent(Attachments.self, forKey: .attachments)) ?? nil
    }
}

/// A revision's status object: `{"value":"accepted","name":"Accepted","closed":false,"color.ansi":"green"}`.
public struct RevisionStatus: Codable, Hashable, Sendable {
    /// `needs-review`, `needs-revision`, `changes-planned`, `accepted`, `published`, `abandoned`, `draft`.
    public var value: String
    public var name: String?
    public var closed: Bool?
    public var colorANSI: String?

    enum CodingKeys: String, CodingKey {
        case value, name, closed
        case colorANSI = "color.ansi"
    }
}

/// A reviewer from the `reviewers` attachment.
public struct RevisionReviewer: Codable, Hashable, Sendable {
    public var reviewerPHID: String
    /// `added`, `accepted`, `rejected`, `blocking`, `resigned`, ...
    public var status: String
    public var isBlocking: Bool?
    public var actorPHID: String?
}

/// A Differential revision from `differential.revision.search`.
public struct DifferentialRevision: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var title: String
        public var uri: String?
        public var authorPHID: String?
        public var status: RevisionStatus
        public var repositoryPHID: String?
        /// The revision's current (active) diff.
        public var diffPHID: String?
        public var summary: String?
        public var testPlan: String?
        public var isDraft: Bool?
        public var holdAsDraft: Bool?
        public var dateCreated: Int
        /// Epoch seconds; bumped by every write, the bot's own comments and Harbormaster messages included.
        public var dateModified: Int
    }

    public var id: Int
    public var type: String?
    public var phid: String
    public var fields: Fields
    /// With `attachments: {reviewers: true}` only.
    public var reviewers: [RevisionReviewer]?

    /// `D123`.
    public var monogram: String { "D\(id)" }

    struct Attachments: Decodable { var reviewers: ReviewersAttachment? }
    struct ReviewersAttachment: Decodable { var reviewers: [RevisionReviewer] }

    public init(from decoder: any Decoder) throws {
        let object = try ConduitObject<Fields, Attachments>(from: decoder)
        (id, type, phid, fields) = (object.id, object.type, object.phid, object.fields)
        reviewers = object.attachments?.reviewers?.reviewers
    }
}

/// A `refs` entry of a diff: `{"type":"base","identifier":"<sha>"}`, `{"type":"branch","name":"main"}`.
public struct DiffRef: Codable, Hashable, Sendable {
    public var type: String
    public var identifier: String?
    public var name: String?
}

/// A diff from `differential.diff.search`.
public struct DifferentialDiff: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var revisionPHID: String?
        public var authorPHID: String?
        public var repositoryPHID: String?
        public var refs: [DiffRef]?
        public var dateCreated: Int?
        public var dateModified: Int?
    }

    public var id: Int
    public var type: String?
    public var phid: String
    public var fields: Fields

    /// The commit the diff applies to, when the author's arc reported it.
    public var baseCommit: String? { fields.refs?.first { $0.type == "base" }?.identifier }
    /// The branch the diff was made on, when reported.
    public var branch: String? { fields.refs?.first { $0.type == "branch" }?.name }
}

/// A changeset (one file of a diff) from `differential.changeset.search`.
public struct DifferentialChangeset: Decodable, Hashable, Sendable {
    public struct Path: Decodable, Hashable, Sendable {
        /// The path as Differential shows it, no leading slash: what `createinline` and lint messages need.
        public var displayPath: String
        public var absolutePathBase64: String?

        enum CodingKeys: String, CodingKey {
            case displayPath
            case absolutePathBase64 = "absolutePath.base64"
        }
    }

    public struct Fields: Decodable, Hashable, Sendable {
        public var diffPHID: String?
        public var path: Path
    }

    public var id: Int
    public var type: String?
    public var phid: String?
    public var fields: Fields

    public var path: String { fields.path.displayPath }
}

/// A repository from `diffusion.repository.search`.
public struct DiffusionRepository: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var name: String
        public var vcs: String?
        public var callsign: String?
        public var shortName: String?
        public var status: String?
        public var isHosted: Bool?
        /// The branch Diffusion treats as the repository's default (`master` for Git unless an administrator set
        /// another one).
        public var defaultBranch: String?
    }

    public var id: Int
    public var type: String?
    public var phid: String
    public var fields: Fields
    /// With `attachments: {uris: true}` only: the repository's URIs (builtin ones appear only when Phorge can serve
    /// them, e.g. HTTP with `diffusion.allow-http-auth`).
    public var uris: [DiffusionURI]?

    /// `rDEMO` with a callsign, else `R12`.
    public var monogram: String { fields.callsign.map { "r\($0)" } ?? "R\(id)" }

    struct Attachments: Decodable { var uris: URIsAttachment? }
    struct URIsAttachment: Decodable { var uris: [DiffusionURI] }

    public init(from decoder: any Decoder) throws {
        let object = try ConduitObject<Fields, Attachments>(from: decoder)
        (id, type, phid, fields) = (object.id, object.type, object.phid, object.fields)
        uris = object.attachments?.uris?.uris
    }

    /// The URIs a clone may use: enabled, read or read/write (Diffusion's "clone URIs"), HTTP(S) first, those
    /// Diffusion displays first.
    public var cloneURIs: [String] {
        let usable = (uris ?? []).filter { uri in
            uri.disabled != true && ["read", "readwrite"].contains(uri.io?.effective ?? "")
        }
        func rank(_ uri: DiffusionURI) -> Int {
            let url = uri.effectiveURI
            let http = url.hasPrefix("https://") || url.hasPrefix("http://")
            return (http ? 0 : 2) + (uri.display?.effective == "always" ? 0 : 1)
        }
        return usable.sorted { (rank($0), $0.effectiveURI) < (rank($1), $1.effectiveURI) }.map(\.effectiveURI)
            .filter { !$0.isEmpty }
    }
}

/// A repository URI from the `uris` attachment of `diffusion.repository.search` (its `id` is a string there).
public struct DiffusionURI: Decodable, Hashable, Sendable {
    public struct URI: Decodable, Hashable, Sendable {
        public var raw: String?
        public var display: String?
        public var effective: String?
    }
    public struct Setting: Decodable, Hashable, Sendable {
        public var raw: String?
        public var effective: String?
    }
    public struct Builtin: Decodable, Hashable, Sendable {
        public var protocol_: String?
        public var identifier: String?
        enum CodingKeys: String, CodingKey {
            case protocol_ = "protocol"
            case identifier
        }
    }
    public struct Fields: Decodable, Hashable, Sendable {
        public var uri: URI
        /// `read`, `readwrite`, `observe`, `mirror`, `none`.
        public var io: Setting?
        /// `always`, `never`.
        public var display: Setting?
        public var disabled: Bool?
        public var builtin: Builtin?
    }
    public var phid: String?
    public var fields: Fields

    public var io: Setting? { fields.io }
    public var display: Setting? { fields.display }
    public var disabled: Bool? { fields.disabled }
    public var effectiveURI: String { fields.uri.effective ?? fields.uri.display ?? "" }
}

/// `user.whoami`.
public struct ConduitUser: Decodable, Hashable, Sendable {
    public var phid: String
    public var userName: String
    public var realName: String?
    public var primaryEmail: String?
    public var roles: [String]?
}

/// The answer of an `*.edit` call.
public struct ConduitEditResult: Decodable, Hashable, Sendable {
    public struct Object: Decodable, Hashable, Sendable {
        public var id: Int?
        public var phid: String
    }
    public struct Transaction: Decodable, Hashable, Sendable {
        public var phid: String
    }
    public var object: Object
    public var transactions: [Transaction]
}

/// A transaction of `differential.revision.edit`.
public struct ConduitTransaction: Encodable, Hashable, Sendable {
    public enum Value: Encodable, Hashable, Sendable {
        case string(String)
        case bool(Bool)
        case strings([String])

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .bool(let b): try c.encode(b)
            case .strings(let list): try c.encode(list)
            }
        }
    }

    public var type: String
    public var value: Value

    public init(type: String, value: Value) {
        self.type = type
        self.value = value
    }

    /// A top-level comment (the only way to publish text over Conduit; draft inlines never publish).
    public static func comment(_ text: String) -> ConduitTransaction { .init(type: "comment", value: .string(text)) }
}

/// `harbormaster.sendmessage`'s `type`.
public struct HarbormasterMessageType: RawRepresentable, Codable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    public static let pass = HarbormasterMessageType(rawValue: "pass")
    public static let fail = HarbormasterMessageType(rawValue: "fail")
    public static let work = HarbormasterMessageType(rawValue: "work")
}

/// A unit test result for Harbormaster.
public struct HarbormasterUnitResult: Codable, Hashable, Sendable {
    public var name: String
    /// `pass`, `fail`, `skip`, `broken`, `unsound`.
    public var result: String
    public var namespace: String?
    public var engine: String?
    public var duration: Double?
    public var path: String?
    public var details: String?

    public init(
        name: String, result: String, namespace: String? = nil, engine: String? = nil, duration: Double? = nil,
        path: String? = nil, details: String? = nil
    ) {
        self.name = name
        self.result = result
        self.namespace = namespace
        self.engine = engine
        self.duration = duration
        self.path = path
        self.details = details
    }
}

/// A lint message for Harbormaster, shown by Differential on the diff at `path:line`.
public struct HarbormasterLintResult: Codable, Hashable, Sendable {
    public var name: String
    public var code: String
    /// `error`, `warning`, `advice`, `autofix`, `disabled`.
    public var severity: String
    /// A changeset `displayPath` (no leading slash).
    public var path: String
    public var line: Int?
    public var char: Int?
    public var description: String?

    public init(
        name: String, code: String, severity: String, path: String, line: Int? = nil, char: Int? = nil,
        description: String? = nil
    ) {
        self.name = name
        self.code = code
        self.severity = severity
        self.path = path
        self.line = line
        self.char = char
        self.description = description
    }
}

/// Constraints of `differential.revision.search`.
public struct RevisionSearchConstraints: Encodable, Hashable, Sendable {
    public var ids: [Int]?
    public var phids: [String]?
    public var statuses: [String]?
    /// Epoch seconds, inclusive.
    public var modifiedStart: Int?
    public var modifiedEnd: Int?
    public var repositoryPHIDs: [String]?
    public var authorPHIDs: [String]?

    public init(
        ids: [Int]? = nil, phids: [String]? = nil, statuses: [String]? = nil, modifiedStart: Int? = nil,
        modifiedEnd: Int? = nil, repositoryPHIDs: [String]? = nil, authorPHIDs: [String]? = nil
    ) {
        self.ids = ids
        self.phids = phids
        self.statuses = statuses
        self.modifiedStart = modifiedStart
        self.modifiedEnd = modifiedEnd
        self.repositoryPHIDs = repositoryPHIDs
        self.authorPHIDs = authorPHIDs
    }
}
