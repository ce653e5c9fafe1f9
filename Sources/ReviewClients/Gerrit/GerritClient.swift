public import AsyncHTTPClient
public import Logging
import Foundation
import NIOHTTP1

/// How the bot signs in to Gerrit: a username and the file holding its HTTP password.
public struct GerritCredentials: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var passwordFile: String

    public init(username: String, passwordFile: String) {
        self.username = username
        self.passwordFile = passwordFile
    }

    /// Never shows the password (it is not even held here).
    public var description: String { "GerritCredentials(username: \(username), passwordFile: \(passwordFile))" }
}

/// Reads a secret file once: the content without its trailing newline(s). Missing or empty → `.configuration` (the
/// message names the file, never its content).
public func readSecretFile(_ path: String, what: String, server: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ReviewClientError.configuration.with(
            server: server, detail: "cannot read the \(what) file \(path) (missing or unreadable)")
    }
    var text = String(decoding: data, as: UTF8.self)
    while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
    guard !text.isEmpty else {
        throw ReviewClientError.configuration.with(server: server, detail: "the \(what) file \(path) is empty")
    }
    return text
}

/// Gerrit 3.10's REST API, as far as the bot needs it.
///
/// Authenticated calls go under `/a/` with HTTP Basic and the account's HTTP password; without credentials the
/// client is anonymous and sees only public data. JSON answers lose their `)]}'` XSSI line before decoding;
/// error bodies (plain text) end up, bounded, in ``ReviewClientError/bodyExcerpt``.
public struct GerritClient: Sendable {
    public let http: ReviewHTTP
    /// The account the client signs in as, `nil` when anonymous.
    public let username: String?
    private let authorization: String?

    /// - Parameters:
    ///   - server: the configured name (`review`).
    ///   - baseURL: `https://review.example.org` (a path prefix is allowed).
    ///   - credentials: read once, here; `nil` for anonymous access.
    /// - Throws: ``ReviewClientError/configuration`` when the password file is missing or empty.
    public init(
        server: String, baseURL: String, credentials: GerritCredentials?, client: HTTPClient,
        configuration: ReviewHTTPConfiguration = ReviewHTTPConfiguration(), logger: Logger
    ) throws {
        var http = ReviewHTTP(
            server: server, baseURL: baseURL, client: client, configuration: configuration, logger: logger)
        if let credentials {
            let password = try readSecretFile(credentials.passwordFile, what: "Gerrit password", server: server)
            let token = Data("\(credentials.username):\(password)".utf8).base64EncodedString()
            authorization = "Basic " + token
            http.secrets = [password, token]
            username = credentials.username
        } else {
            authorization = nil
            username = nil
        }
        self.http = http
    }

    /// The server's configured name.
    public var server: String { http.server }

    /// `"<project>~<number>"`, the change ID form Gerrit resolves fastest.
    public static func changeID(project: String, number: Int) -> String { "\(project)~\(number)" }

    /// The URL to fetch a project's refs (`refs/changes/..`) from, with the same credentials.
    public func gitURL(project: String) -> String {
        http.baseURL + (authorization == nil ? "/" : "/a/") + project
    }

    // MARK: - Changes

    /// All changes matching `query`, following `_more_changes` with `S=` until the last page.
    ///
    /// Changes that move between pages while paging (Gerrit sorts by `updated`) are returned once.
    /// - Parameters:
    ///   - query: a Gerrit query, e.g. from ``GerritQuery/openChanges(projects:after:)``.
    ///   - options: `o=` options; the bot uses ``GerritQueryOption/botPolling``.
    ///   - pageSize: `n=` per request.
    ///   - limit: stop after this many changes (nil: all).
    public func queryChanges(
        query: String, options: [GerritQueryOption] = [], pageSize: Int = 100, limit: Int? = nil
    ) async throws -> [ChangeInfo] {
        var all: [ChangeInfo] = []
        var seen: Set<String> = []
        var skip = 0
        while true {
            let page = try await queryChangesPage(query: query, options: options, pageSize: pageSize, skip: skip)
            for var change in page.changes where seen.insert(change.id).inserted {
                change.moreChanges = nil
                all.append(change)
                if let limit, all.count >= limit { return all }
            }
            guard page.moreChanges, !page.changes.isEmpty else { return all }
            skip += page.changes.count
        }
    }

    /// One page of a change query: `n=pageSize`, `S=skip`.
    public func queryChangesPage(
        query: String, options: [GerritQueryOption] = [], pageSize: Int = 100, skip: Int = 0
    ) async throws -> (changes: [ChangeInfo], moreChanges: Bool) {
        var items: [(String, String)] = [("q", query), ("n", String(pageSize))]
        if skip > 0 { items.append(("S", String(skip))) }
        items += options.map { ("o", $0.rawValue) }
        let changes = try await get([ChangeInfo].self, path: "/changes/", query: items, endpoint: "queryChanges")
        return (changes, changes.last?.moreChanges ?? false)
    }

    /// One change, `GET /changes/{id}?o=...`.
    public func getChange(_ id: String, options: [GerritQueryOption] = []) async throws -> ChangeInfo {
        try await get(
            ChangeInfo.self, path: "/changes/\(Self.encode(id))", query: options.map { ("o", $0.rawValue) },
            endpoint: "getChange")
    }

    /// The files of a revision (including `/COMMIT_MSG`), `GET /changes/{id}/revisions/{rev}/files/`.
    public func listRevisionFiles(changeID: String, revision: String = "current") async throws -> [String: FileInfo] {
        try await get(
            [String: FileInfo].self,
            path: "/changes/\(Self.encode(changeID))/revisions/\(Self.encode(revision))/files/",
            endpoint: "listRevisionFiles")
    }

    /// Published comments of a change by path, `GET /changes/{id}/comments`.
    public func listComments(changeID: String) async throws -> [String: [CommentInfo]] {
        try await get(
            [String: [CommentInfo]].self, path: "/changes/\(Self.encode(changeID))/comments",
            endpoint: "listComments")
    }

    /// The account the client is signed in as (so the bot can ignore its own votes and messages).
    public func accountSelf() async throws -> AccountInfo {
        try await get(AccountInfo.self, path: "/accounts/self", endpoint: "accountSelf")
    }

    /// The members of a group (`GET /groups/{id}/members/?recursive=true`: included groups' members too).
    /// - Parameter group: the group's UUID, numeric id or (unique) name.
    public func groupMembers(_ group: String) async throws -> [AccountInfo] {
        try await get(
            [AccountInfo].self, path: "/groups/\(Self.encode(group))/members/", query: [("recursive", "true")],
            endpoint: "groupMembers")
    }

    /// Posts a review (message, votes, file comments) on one revision.
    ///
    /// Not retried once the server may have applied it (see ``RetryPolicy``). The whole call, retries included,
    /// takes at most the read timeout, and tells Gerrit so (`X-Gerrit-Deadline`): past it, the server abandons the
    /// request instead of applying it late. A caller that does not learn the outcome therefore knows that nothing
    /// lands on the server once that time (plus the server's own commit latency) has passed.
    /// - Parameters:
    ///   - changeID: `"project~number"` (see ``changeID(project:number:)``).
    ///   - revision: the SHA-1 reviewed (preferred: a vote on an outdated patch set is accepted and may not carry
    ///     forward), a patch set number, or `current`.
    /// - Returns: the applied labels; labels Gerrit does not know are missing from it.
    /// - Throws: ``ReviewClientError/forbidden`` for a vote outside the permitted range,
    ///   ``ReviewClientError/conflict`` for votes on a closed change.
    public func postReview(changeID: String, revision: String, _ input: ReviewInput) async throws -> ReviewResult {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = try encoder.encode(input)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
        return try await send(
            ReviewResult.self,
            ReviewHTTP.Request(
                method: .POST,
                path: prefix + "/changes/\(Self.encode(changeID))/revisions/\(Self.encode(revision))/review",
                headers: headers, body: Array(body), idempotent: false, endpoint: "postReview",
                deadline: .now + http.configuration.readTimeout, deadlineHeader: "X-Gerrit-Deadline"))
    }

    // MARK: - Plumbing

    private var prefix: String { authorization == nil ? "" : "/a" }

    private func get<T: Decodable & Sendable>(
        _ type: T.Type, path: String, query: [(String, String)] = [], endpoint: String
    ) async throws -> T {
        try await send(
            type,
            ReviewHTTP.Request(method: .GET, path: prefix + path, query: query, idempotent: true, endpoint: endpoint))
    }

    private func send<T: Decodable & Sendable>(_ type: T.Type, _ request: ReviewHTTP.Request) async throws -> T {
        var request = request
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        return try await http.send(request) { response in
            try Self.decodeJSON(type, from: response.body)
        }
    }

    /// Decodes a Gerrit JSON body, dropping the `)]}'` line first.
    static func decodeJSON<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        var bytes = body[...]
        let magic = Array(")]}'".utf8)
        if bytes.starts(with: magic) {
            bytes = bytes.dropFirst(magic.count)
            if bytes.first == UInt8(ascii: "\r") { bytes = bytes.dropFirst() }
            if bytes.first == UInt8(ascii: "\n") { bytes = bytes.dropFirst() }
        }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    private static let segmentAllowed: Set<UInt8> = Set(
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))

    /// Percent-encodes one path segment (a `/` in a project name becomes `%2F`; `~` stays).
    static func encode(_ segment: String) -> String { ReviewHTTP.percentEncode(segment) }
}

/// Builds the change queries the bot polls with.
public enum GerritQuery {
    /// `(project:a OR project:b) status:open after:"2024-10-14 11:16:36.775000000"`.
    public static func openChanges(projects: [String], after: GerritTimestamp? = nil) -> String {
        var terms: [String] = []
        let projectTerms = projects.map { "project:" + quote($0) }
        if projectTerms.count == 1 {
            terms.append(projectTerms[0])
        } else if projectTerms.count > 1 {
            terms.append("(" + projectTerms.joined(separator: " OR ") + ")")
        }
        terms.append("status:open")
        if let after { terms.append("after:\"\(after)\"") }
        return terms.joined(separator: " ")
    }

    /// A query operand, double-quoted when it holds anything but `[A-Za-z0-9._/-]`.
    public static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 46 || b == 95 || b == 47
                || b == 45
        }
        if plain { return value }
        return "\"" + value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }
}
