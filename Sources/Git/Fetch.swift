internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A user name and password for HTTP(S) Basic authentication (a Gerrit HTTP password, a
/// Phorge VCS password, an access token).
///
/// The password never appears in ``description``, in a mirror (`dump`), or in any ``GitError``
/// this module throws.
public struct GitCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public let username: String
    public let password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "GitCredentials(username: \(username), password: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["username": username, "password": "<redacted>"])
    }
}

/// One reference a fetch brought in.
public struct FetchedRef: Sendable, Hashable {
    /// The reference's name on the remote (`refs/changes/34/1234/2`).
    public let remoteName: String
    /// The local reference the refspec mapped it to; nil when the refspec had no destination
    /// (the objects were downloaded, but no local reference names them).
    public let localName: String?
    /// The object the remote reference points at (what the local reference now points at).
    public let target: ObjectID

    public init(remoteName: String, localName: String?, target: ObjectID) {
        self.remoteName = remoteName
        self.localName = localName
        self.target = target
    }
}

/// State shared with the C callbacks of one fetch, passed through their `void *payload`.
private final class FetchContext {
    let credentials: GitCredentials?
    /// The origin (scheme, host, port) the credentials are for: the remote URL's.
    let origin: String?
    /// How often the credentials callback handed out the credentials.
    var credentialAttempts = 0
    /// Set when the server rejected the credentials and the callback refused to try again.
    var rejected = false
    /// Set when a server of another origin (a redirect's target) asked for the credentials.
    var refusedOrigin: String?

    init(credentials: GitCredentials?, remoteURL: String) {
        self.credentials = credentials
        self.origin = urlOrigin(remoteURL)
    }
}

extension Repository {
    /// Fetches `refspecs` from `remoteURL` into this repository, through an in-memory remote
    /// (nothing is written to the repository's configuration, and `FETCH_HEAD` is not written).
    ///
    /// - Parameters:
    ///   - remoteURL: `https://`, `http://`, `git://`, `file://` or a local path. A URL may not
    ///     carry a password; pass `credentials` instead.
    ///   - refspecs: fetch refspecs with full ref names, e.g. `+refs/heads/*:refs/heads/*` or
    ///     `+refs/changes/34/1234/2:refs/stepgate/changes/1234/2`. Tags are fetched only when a
    ///     refspec names them.
    ///   - credentials: offered once to an HTTP(S) server that asks for Basic authentication;
    ///     if the server rejects them the fetch fails instead of asking again.
    ///   An HTTP(S) answer libgit2 cannot read (one that ends by the server closing the connection, as
    ///   PHP's built-in web server sends) is fetched again with the `git` command.
    /// - Returns: for every reference the remote advertised that a refspec matched, its remote
    ///   name, local name and target, sorted by remote name. A refspec whose source the remote
    ///   does not have contributes nothing (this is not an error).
    /// - Throws: ``GitError``; for rejected or missing credentials an error whose
    ///   ``GitError/isAuthenticationFailure`` is true and whose message is
    ///   `authentication failed for <url>`. No message contains the password.
    public func fetch(
        remoteURL: String, refspecs: [String], credentials: GitCredentials?
    ) throws(GitError) -> [FetchedRef] {
        let safeURL = redactedURL(remoteURL)
        do {
            return try performFetch(remoteURL: remoteURL, refspecs: refspecs, credentials: credentials)
        } catch where error.isUnreadableHTTPAnswer && (remoteURL.hasPrefix("http://") || remoteURL.hasPrefix("https://")) {
            git_error_clear()
            return try fetchWithGitCommand(remoteURL: remoteURL, refspecs: refspecs, credentials: credentials)
        } catch {
            throw error.redacting(password: credentials?.password, url: remoteURL, safeURL: safeURL)
        }
    }

    private func performFetch(
        remoteURL: String, refspecs: [String], credentials: GitCredentials?
    ) throws(GitError) -> [FetchedRef] {
        let safeURL = redactedURL(remoteURL)
        // Parse the refspecs first, so a bad one fails before any network traffic.
        let parsed = try Self.parseRefspecs(refspecs)
        defer { for spec in parsed { git_refspec_free(spec) } }

        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, handle, remoteURL), "git_remote_create_anonymous")
        defer { git_remote_free(remote) }

        var options = git_fetch_options()
        try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
        options.update_fetchhead = 0
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        options.prune = GIT_FETCH_NO_PRUNE

        let context = FetchContext(credentials: credentials, remoteURL: remoteURL)
        let payload = Unmanaged.passRetained(context)
        defer { payload.release() }
        options.callbacks.payload = payload.toOpaque()
        // A C function pointer: no captures; everything comes through the payload.
        options.callbacks.credentials = { out, url, _, allowedTypes, payload in
            guard let out, let payload else { return GIT_PASSTHROUGH.rawValue }
            let context = Unmanaged<FetchContext>.fromOpaque(payload).takeUnretainedValue()
            guard let credentials = context.credentials,
                allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0
            else {
                // libgit2 then reports that authentication is required but unavailable.
                return GIT_PASSTHROUGH.rawValue
            }
            // Only the configured server gets them, never the target of a redirect elsewhere.
            let asking = url.flatMap { urlOrigin(String(cString: $0)) }
            guard let asking, asking == context.origin else {
                context.refusedOrigin = asking ?? "an unknown server"
                git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "credentials refused to another server")
                return GIT_EUSER.rawValue
            }
            // Being asked again means the server rejected what we sent: libgit2 would keep
            // asking for ever, so give up.
            if context.credentialAttempts > 0 {
                context.rejected = true
                git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "credentials rejected")
                return GIT_EUSER.rawValue
            }
            context.credentialAttempts += 1
            return git_credential_userpass_plaintext_new(out, credentials.username, credentials.password)
        }

        let rc = withStringArray(refspecs) { (array: inout git_strarray) -> Int32 in
            git_remote_fetch(remote, &array, &options, "stepgate fetch")
        }
        if rc < 0 {
            let error = GitError.last(code: rc, function: "git_remote_fetch")
            if let other = context.refusedOrigin {
                throw GitError(
                    code: GitError.authenticationFailureCode, errorClass: Int32(GIT_ERROR_NET.rawValue),
                    message: "authentication failed for \(safeURL): \(redactedURL(other)) asked for the credentials, which are only for \(context.origin ?? "the configured server")",
                    function: "git_remote_fetch")
            }
            if context.rejected || rc == GIT_EAUTH.rawValue || error.looksLikeAuthenticationFailure {
                throw GitError.authenticationFailure(safeURL: safeURL, credentials: credentials, function: "git_remote_fetch")
            }
            throw GitError(
                code: error.code, errorClass: error.errorClass,
                message: "fetch from \(safeURL) failed: \(error.message)", function: error.function)
        }

        // The advertised references stay readable after git_remote_fetch disconnects.
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try check(git_remote_ls(&heads, &count, remote), "git_remote_ls")
        var advertised: [(name: String, target: ObjectID)] = []
        for index in 0..<count {
            guard let head = heads?[index]?.pointee, let namePointer = head.name else { continue }
            advertised.append((String(cString: namePointer), ObjectID(head.oid)))
        }
        return try Self.fetchedRefs(advertised, refspecs: parsed)
    }

    /// Parsed fetch refspecs (free each with `git_refspec_free`).
    static func parseRefspecs(_ refspecs: [String]) throws(GitError) -> [OpaquePointer?] {
        var parsed: [OpaquePointer?] = []
        for refspec in refspecs {
            var spec: OpaquePointer?
            let rc = git_refspec_parse(&spec, refspec, 1)
            if rc < 0 {
                for spec in parsed { git_refspec_free(spec) }
                let error = GitError.last(code: rc, function: "git_refspec_parse")
                throw GitError(
                    code: rc, errorClass: error.errorClass, message: "invalid fetch refspec '\(refspec)'",
                    function: "git_refspec_parse")
            }
            parsed.append(spec)
        }
        return parsed
    }

    /// The advertised references a refspec matched, with the local names they map to, sorted by remote name.
    static func fetchedRefs(_ advertised: [(name: String, target: ObjectID)], refspecs parsed: [OpaquePointer?])
        throws(GitError) -> [FetchedRef]
    {
        var result: [FetchedRef] = []
        for (name, target) in advertised {
            for spec in parsed where git_refspec_src_matches(spec, name) != 0 {
                var localName: String?
                if let destination = git_refspec_dst(spec), destination.pointee != 0 {
                    var buffer = git_buf()
                    try check(git_refspec_transform(&buffer, spec, name), "git_refspec_transform")
                    localName = buffer.ptr.map { String(cString: $0) }
                    git_buf_dispose(&buffer)
                }
                result.append(FetchedRef(remoteName: name, localName: localName, target: target))
                break  // like git: the first matching refspec wins
            }
        }
        return result.sorted { $0.remoteName < $1.remoteName }
    }

    /// Makes this (bare) mirror's branches and tags exactly those of `remoteURL`'s, pruning
    /// nothing: `+refs/heads/*:refs/heads/*` and `+refs/tags/*:refs/tags/*`.
    @discardableResult
    public func updateMirror(from remoteURL: String, credentials: GitCredentials?) throws(GitError) -> [FetchedRef] {
        try fetch(
            remoteURL: remoteURL, refspecs: ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            credentials: credentials)
    }
}

// MARK: - Gerrit

extension Repository {
    /// Gerrit's ref for a patch set: `refs/changes/NN/N/P`, where NN is the change number's
    /// last two digits, zero-padded (`refs/changes/34/1234/2`, `refs/changes/05/5/1`).
    public static func gerritChangeRef(change: Int, patchSet: Int) -> String {
        let shard = change % 100
        return "refs/changes/\(shard < 10 ? "0" : "")\(shard)/\(change)/\(patchSet)"
    }

    /// The local ref a fetched patch set is kept under: `refs/stepgate/changes/N/P`.
    public static func localPatchSetRef(change: Int, patchSet: Int) -> String {
        "refs/stepgate/changes/\(change)/\(patchSet)"
    }

    /// Fetches one Gerrit patch set into `refs/stepgate/changes/N/P` and returns its commit.
    ///
    /// - Parameters:
    ///   - serverGitURL: the server's git base URL; with HTTP credentials Gerrit's authenticated
    ///     prefix, e.g. `https://gerrit.example.org/a`.
    ///   - project: the project name (`tools/stepgate`); appended as `serverGitURL/project`.
    /// - Throws: ``GitError``; ``GitError/isNotFound`` when the server does not have the patch
    ///   set's ref.
    public func fetchGerritPatchSet(
        serverGitURL: String, project: String, change: Int, patchSet: Int, credentials: GitCredentials?
    ) throws(GitError) -> ObjectID {
        guard change > 0, patchSet > 0 else {
            throw GitError(
                code: -1, errorClass: Int32(GIT_ERROR_INVALID.rawValue),
                message: "invalid Gerrit change \(change) / patch set \(patchSet)", function: "fetchGerritPatchSet")
        }
        var base = serverGitURL
        while base.hasSuffix("/") { base.removeLast() }
        var name = Substring(project)
        while name.hasPrefix("/") { name = name.dropFirst() }
        let url = base + "/" + name
        let remoteRef = Repository.gerritChangeRef(change: change, patchSet: patchSet)
        let localRef = Repository.localPatchSetRef(change: change, patchSet: patchSet)
        let fetched = try fetch(remoteURL: url, refspecs: ["+\(remoteRef):\(localRef)"], credentials: credentials)
        guard let ref = fetched.first(where: { $0.remoteName == remoteRef }) else {
            throw GitError(
                code: GitError.notFoundCode, errorClass: Int32(GIT_ERROR_REFERENCE.rawValue),
                message: "\(redactedURL(url)) has no \(remoteRef) (change \(change), patch set \(patchSet))",
                function: "fetchGerritPatchSet")
        }
        return ref.target
    }
}

// MARK: - Errors and redaction

extension GitError {
    /// The code of the error ``Repository/fetch(remoteURL:refspecs:credentials:)`` throws when
    /// the server rejects (or requires and did not get) credentials: libgit2's `GIT_EAUTH`.
    public static let authenticationFailureCode: Int32 = -16

    /// The error of a fetch whose credentials the server refused (or required, and none were given).
    static func authenticationFailure(safeURL: String, credentials: GitCredentials?, function: String) -> GitError {
        GitError(
            code: GitError.authenticationFailureCode, errorClass: Int32(GIT_ERROR_NET.rawValue),
            message: credentials == nil
                ? "authentication failed for \(safeURL): the server requires credentials and none were given"
                : "authentication failed for \(safeURL)",
            function: function)
    }

    /// True when a server refused the credentials, or required some and none were given.
    public var isAuthenticationFailure: Bool { code == GitError.authenticationFailureCode }

    /// libgit2 1.5 reports some authentication failures as plain HTTP errors.
    var looksLikeAuthenticationFailure: Bool {
        let lower = message.lowercased()
        return lower.contains("authentication required") || lower.contains("unexpected http status code: 401")
            || lower.contains("too many redirects or authentication replays")
    }

    /// This error with the password and the raw URL scrubbed out of the message.
    func redacting(password: String?, url: String, safeURL: String) -> GitError {
        var text = message
        if url != safeURL { text = text.replacing(url, with: safeURL) }
        if let password, !password.isEmpty { text = text.replacing(password, with: "<redacted>") }
        return GitError(code: code, errorClass: errorClass, message: text, function: function)
    }
}

/// `url` without any password in its user-info part (`https://bot:secret@h/x` becomes
/// `https://bot@h/x`), for messages.
func redactedURL(_ url: String) -> String {
    guard let schemeEnd = url.firstRange(of: "://") else { return url }
    let authorityStart = schemeEnd.upperBound
    let rest = url[authorityStart...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    let authority = url[authorityStart..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else { return url }
    let userInfo = authority[authority.startIndex..<at]
    guard let colon = userInfo.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + String(url[at...])
}

/// `scheme://host:port` of a URL (the scheme's default port made explicit, host lower-cased,
/// user information dropped); nil for a local path.
func urlOrigin(_ url: String) -> String? {
    guard let schemeEnd = url.firstRange(of: "://") else { return nil }
    let scheme = url[..<schemeEnd.lowerBound].lowercased()
    let rest = url[schemeEnd.upperBound...]
    var authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex)]
    if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
    var host = Substring(authority)
    var port: Substring?
    if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
        let after = host[host.index(after: close)...]
        if after.hasPrefix(":") { port = after.dropFirst() }
        host = host[...close]
    } else if let colon = host.lastIndex(of: ":") {
        port = host[host.index(after: colon)...]
        host = host[..<colon]
    }
    let defaultPort = ["http": "80", "https": "443", "git": "9418", "ssh": "22"][scheme] ?? ""
    let effectivePort = port.map(String.init).flatMap { $0.isEmpty ? nil : $0 } ?? defaultPort
    return "\(scheme)://\(host.lowercased()):\(effectivePort)"
}

/// Calls `body` with a `git_strarray` viewing `strings` (valid only during the call).
func withStringArray<R>(_ strings: [String], _ body: (inout git_strarray) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return body(&array)
    }
}
