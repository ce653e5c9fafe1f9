public import AsyncHTTPClient
public import Logging
import Foundation
import NIOHTTP1

/// How the bot signs in to Phorge: the file holding its Conduit API token (`api-...`).
public struct ConduitCredentials: Sendable, Hashable, CustomStringConvertible {
    public var tokenFile: String
    public init(tokenFile: String) { self.tokenFile = tokenFile }
    public var description: String { "ConduitCredentials(tokenFile: \(tokenFile))" }
}

/// Phorge (Phabricator) Conduit, as far as the bot needs it.
///
/// Every call is `POST /api/<method>`, form-encoded as arc sends it: `params=<JSON>&output=json&__conduit__=1`,
/// with the token **inside** the JSON as `"__conduit__": {"token": ...}` (Phorge ignores a separate `api.token`
/// when `params` is present and answers `ERR-INVALID-SESSION`). Every answer is HTTP 200 with
/// `{"result", "error_code", "error_info"}`; a non-null `error_code` becomes ``ReviewClientError/conduit(_:_:)``.
public struct ConduitClient: Sendable {
    public let http: ReviewHTTP
    private let token: String

    /// - Throws: ``ReviewClientError/configuration`` when the token file is missing or empty.
    public init(
        server: String, baseURL: String, credentials: ConduitCredentials, client: HTTPClient,
        configuration: ReviewHTTPConfiguration = ReviewHTTPConfiguration(), logger: Logger
    ) throws {
        token = try readSecretFile(credentials.tokenFile, what: "Conduit token", server: server)
        var http = ReviewHTTP(
            server: server, baseURL: baseURL, client: client, configuration: configuration, logger: logger)
        http.secrets = [token, ReviewHTTP.percentEncode(token)]
        self.http = http
    }

    public var server: String { http.server }

    // MARK: - Generic calls

    /// Calls `method` with `params` and decodes `result` as `Result` (nil when Conduit answered `null`).
    ///
    /// - Parameter idempotent: whether the call may be repeated after the server may have run it (reads and
    ///   `queryautotargets` may; edits and messages may not).
    public func call<Params: Encodable & Sendable, Result: Decodable & Sendable>(
        _ method: String, params: Params, as type: Result.Type, idempotent: Bool
    ) async throws -> Result? {
        let body = try formBody(params)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        let request = ReviewHTTP.Request(
            method: .POST, path: "/api/\(method)", headers: headers, body: Array(body.utf8),
            idempotent: idempotent, endpoint: method)
        return try await http.send(request) { response in
            let data = Data(response.body)
            let decoder = JSONDecoder()
            let head: EnvelopeHead
            do {
                head = try decoder.decode(EnvelopeHead.self, from: data)
            } catch {
                throw ReviewHTTP.MalformedBody(
                    detail: "not a Conduit envelope: \(ReviewHTTP.describe(decodingError: error))")
            }
            if let code = head.errorCode {
                throw ReviewClientError.conduit(code, head.errorInfo).with(
                    method: method, body: response.text, redacting: http.secrets)
            }
            return try decoder.decode(Envelope<Result>.self, from: data).result
        }
    }

    /// Like ``call(_:params:as:idempotent:)`` but a `null` result is a malformed answer.
    public func callRequired<Params: Encodable & Sendable, Result: Decodable & Sendable>(
        _ method: String, params: Params, as type: Result.Type, idempotent: Bool
    ) async throws -> Result {
        guard let value = try await call(method, params: params, as: type, idempotent: idempotent) else {
            throw ReviewClientError.malformedResponse.with(
                server: server, method: method, detail: "\(method) answered a null result")
        }
        return value
    }

    /// Follows a `*.search` method's `after` cursor until it is null.
    public func search<Constraints: Encodable & Sendable, Item: Decodable & Sendable>(
        _ method: String, constraints: Constraints, attachments: [String: Bool] = [:], order: String? = nil,
        pageSize: Int = 100, as type: Item.Type
    ) async throws -> [Item] {
        var items: [Item] = []
        var after: String? = nil
        var seenCursors: Set<String> = []
        repeat {
            let params = SearchParams(
                constraints: constraints, attachments: attachments.isEmpty ? nil : attachments, order: order,
                limit: pageSize, after: after)
            let page = try await callRequired(
                method, params: params, as: ConduitSearchPage<Item>.self, idempotent: true)
            items += page.data
            after = page.cursor.after
            if let cursor = after, !seenCursors.insert(cursor).inserted || page.data.isEmpty {
                break  // a cursor that does not move would loop forever
            }
        } while after != nil
        return items
    }

    // MARK: - Methods

    /// `user.whoami`: the bot's own PHID, so it can ignore its own activity.
    public func whoami() async throws -> ConduitUser {
        try await callRequired("user.whoami", params: Empty(), as: ConduitUser.self, idempotent: true)
    }

    /// `differential.revision.search` ordered by `updated` (latest first), all pages, reviewers attached.
    public func searchRevisions(
        _ constraints: RevisionSearchConstraints, attachReviewers: Bool = true, order: String = "updated",
        pageSize: Int = 100
    ) async throws -> [DifferentialRevision] {
        try await search(
            "differential.revision.search", constraints: constraints,
            attachments: attachReviewers ? ["reviewers": true] : [:], order: order, pageSize: pageSize,
            as: DifferentialRevision.self)
    }

    /// `differential.diff.search` by revision PHIDs, diff PHIDs or diff IDs (newest first).
    public func searchDiffs(
        revisionPHIDs: [String]? = nil, phids: [String]? = nil, ids: [Int]? = nil, pageSize: Int = 100
    ) async throws -> [DifferentialDiff] {
        try await search(
            "differential.diff.search",
            constraints: DiffConstraints(ids: ids, phids: phids, revisionPHIDs: revisionPHIDs), order: "newest",
            pageSize: pageSize, as: DifferentialDiff.self)
    }

    /// `differential.changeset.search`: the files of diffs.
    public func searchChangesets(diffPHIDs: [String], pageSize: Int = 100) async throws -> [DifferentialChangeset] {
        try await search(
            "differential.changeset.search", constraints: ChangesetConstraints(diffPHIDs: diffPHIDs),
            pageSize: pageSize, as: DifferentialChangeset.self)
    }

    /// `differential.getrawdiff`: the diff as a unified (git) patch.
    public func rawDiff(diffID: Int) async throws -> String {
        try await callRequired(
            "differential.getrawdiff", params: RawDiffParams(diffID: diffID), as: String.self, idempotent: true)
    }

    /// `differential.revision.edit` with arbitrary transactions on an existing revision (`D12` or its PHID).
    public func editRevision(
        _ objectIdentifier: String, transactions: [ConduitTransaction]
    ) async throws -> ConduitEditResult {
        try await callRequired(
            "differential.revision.edit",
            params: EditParams(objectIdentifier: objectIdentifier, transactions: transactions),
            as: ConduitEditResult.self, idempotent: false)
    }

    /// `differential.revision.edit` without an object: creates a revision (an `update` transaction naming its first
    /// diff and a `testPlan` are required).
    public func createRevision(transactions: [ConduitTransaction]) async throws -> ConduitEditResult {
        try await callRequired(
            "differential.revision.edit", params: CreateParams(transactions: transactions), as: ConduitEditResult.self,
            idempotent: false)
    }

    /// `differential.createrawdiff`: a diff from a unified patch, as the web UI's "Create Diff" makes it (no base
    /// commit, no refs). Returns the diff's ID and PHID.
    public func createRawDiff(_ diff: String, repositoryPHID: String?) async throws -> (id: Int, phid: String) {
        let created = try await callRequired(
            "differential.createrawdiff", params: RawDiffCreateParams(diff: diff, repositoryPHID: repositoryPHID),
            as: CreatedDiff.self, idempotent: false)
        return (created.id, created.phid)
    }

    /// Posts a top-level comment on a revision (`D12` or its PHID).
    @discardableResult
    public func comment(revision objectIdentifier: String, _ text: String) async throws -> ConduitEditResult {
        try await editRevision(objectIdentifier, transactions: [.comment(text)])
    }

    /// `harbormaster.queryautotargets`: creates (or returns) the build targets for a diff; returns `key → target PHID`.
    ///
    /// Create them before commenting: the buildable stays "preparing" until the revision's next edit.
    public func queryAutotargets(
        diffPHID: String, targetKeys: [String] = ["arcanist.lint", "arcanist.unit"]
    ) async throws -> [String: String] {
        try await callRequired(
            "harbormaster.queryautotargets", params: AutotargetParams(objectPHID: diffPHID, targetKeys: targetKeys),
            as: AutotargetResult.self, idempotent: true
        ).targetMap
    }

    /// `harbormaster.sendmessage` to a build target (sent as `receiver`, the parameter Phorge documents).
    public func sendMessage(
        buildTargetPHID: String, type: HarbormasterMessageType, unit: [HarbormasterUnitResult] = [],
        lint: [HarbormasterLintResult] = []
    ) async throws {
        _ = try await call(
            "harbormaster.sendmessage",
            params: SendMessageParams(
                receiver: buildTargetPHID, type: type, unit: unit.isEmpty ? nil : unit, lint: lint.isEmpty ? nil : lint),
            as: IgnoredResult.self, idempotent: false)
    }

    /// `diffusion.repository.search` by PHIDs, callsigns, short names or IDs, optionally with the `uris` attachment.
    public func searchRepositories(
        phids: [String]? = nil, callsigns: [String]? = nil, shortNames: [String]? = nil, ids: [Int]? = nil,
        attachURIs: Bool = false
    ) async throws -> [DiffusionRepository] {
        try await search(
            "diffusion.repository.search",
            constraints: RepositoryConstraints(phids: phids, callsigns: callsigns, shortNames: shortNames, ids: ids),
            attachments: attachURIs ? ["uris": true] : [:], as: DiffusionRepository.self)
    }

    // MARK: - Wire format

    /// `params=<JSON with __conduit__.token>&output=json&__conduit__=1`, form-encoded.
    func formBody<Params: Encodable>(_ params: Params) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let encoded = try encoder.encode(params)
        let conduit = String(decoding: try encoder.encode(["__conduit__": ["token": token]]), as: UTF8.self)
        var json = String(decoding: encoded, as: UTF8.self)
        guard json.hasPrefix("{"), conduit.hasPrefix("{"), conduit.hasSuffix("}") else {
            throw ReviewClientError.configuration.with(server: server, detail: "Conduit params must be a JSON object")
        }
        let inner = conduit.dropFirst().dropLast()
        json = json == "{}" ? "{\(inner)}" : "{\(inner)," + json.dropFirst()
        return "params=" + ReviewHTTP.percentEncode(json) + "&output=json&__conduit__=1"
    }

    struct EnvelopeHead: Decodable {
        var errorCode: String?
        var errorInfo: String?
        enum CodingKeys: String, CodingKey {
            case errorCode = "error_code"
            case errorInfo = "error_info"
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard c.contains(.errorCode) else {
                throw DecodingError.keyNotFound(
                    CodingKeys.errorCode, .init(codingPath: [], debugDescription: "no error_code"))
            }
            errorCode = try c.decodeIfPresent(String.self, forKey: .errorCode)
            // error_info is usually a string, but be lenient about other shapes.
            errorInfo = try? c.decodeIfPresent(String.self, forKey: .errorInfo)
        }
    }

    struct Envelope<R: Decodable>: Decodable {
        var result: R?
    }

    struct Empty: Encodable, Sendable {}
    struct IgnoredResult: Decodable, Sendable { init(from decoder: any Decoder) throws {} }

    struct SearchParams<C: Encodable & Sendable>: Encodable, Sendable {
        var constraints: C
        var attachments: [String: Bool]?
        var order: String?
        var limit: Int
        var after: String?
    }

    struct DiffConstraints: Encodable, Sendable {
        var ids: [Int]?
        var phids: [String]?
        var revisionPHIDs: [String]?
    }

    struct ChangesetConstraints: Encodable, Sendable { var diffPHIDs: [String] }
    struct RepositoryConstraints: Encodable, Sendable {
        var phids: [String]?
        var callsigns: [String]?
        var shortNames: [String]?
        var ids: [Int]?
    }
    struct RawDiffParams: Encodable, Sendable { var diffID: Int }
    struct EditParams: Encodable, Sendable {
        var objectIdentifier: String
        var transactions: [ConduitTransaction]
    }
    struct CreateParams: Encodable, Sendable { var transactions: [ConduitTransaction] }
    struct RawDiffCreateParams: Encodable, Sendable {
        var diff: String
        var repositoryPHID: String?
    }
    struct CreatedDiff: Decodable, Sendable {
        var id: Int
        var phid: String
    }
    struct AutotargetParams: Encodable, Sendable {
        var objectPHID: String
        var targetKeys: [String]
    }
    struct AutotargetResult: Decodable, Sendable { var targetMap: [String: String] }
    struct SendMessageParams: Encodable, Sendable {
        var receiver: String
        var type: HarbormasterMessageType
        var unit: [HarbormasterUnitResult]?
        var lint: [HarbormasterLintResult]?
    }
}
