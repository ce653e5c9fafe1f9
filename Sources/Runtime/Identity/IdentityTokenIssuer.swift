public import StatesLanguage
public import Foundation
import Crypto

/// A problem with the identity keys or a token request.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Mints short-lived ES256 JSON Web Tokens that tell a third party (a cloud provider, a deploy
/// service) which repository, branch, workflow and state a task runs for, so that the task can
/// exchange the token for credentials instead of holding long-lived secrets (OIDC federation).
///
/// Keys live in a directory as PKCS#8 PEM files (mode 0600, the directory 0700), named by their
/// creation time. The newest key signs; ``rotateIfNeeded(maxAge:)`` adds a key when the newest is
/// older than `maxAge` and keeps the previous ones in ``jwks()`` until every token they could have
/// signed has expired (``maximumLifetime`` after their successor was created), then deletes them.
/// A key's `kid` is its RFC 7638 thumbprint.
public final class IdentityTokenIssuer: Sendable {
    public static let maximumLifetime: TimeInterval = 900
    public static let defaultLifetime: TimeInterval = 600
    /// Extra time a retired key stays published, for clock skew between verifier and us.
    static let retentionSkew: TimeInterval = 60

    public let keyDirectory: String
    public let issuer: String
    public let audience: String
    public let lifetime: TimeInterval
    private let clock: @Sendable () -> Date

    public init(
        keyDirectory: String, issuer: String, audience: String, lifetime: TimeInterval = IdentityTokenIssuer.defaultLifetime,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws(IdentityError) {
        guard lifetime > 0, lifetime <= Self.maximumLifetime else {
            throw IdentityError("token lifetime must be between 1 and \(Int(Self.maximumLifetime)) seconds")
        }
        guard !issuer.isEmpty, !audience.isEmpty else { throw IdentityError("issuer and audience must not be empty") }
        self.keyDirectory = keyDirectory
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.clock = clock
    }

    // MARK: - Keys

    struct StoredKey {
        var created: Date
        var path: String
        var key: P256.Signing.PrivateKey
        var kid: String
    }

    /// Keys in the directory, oldest first.
    func loadKeys() throws(IdentityError) -> [StoredKey] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: keyDirectory)
        } catch {
            if !FileManager.default.fileExists(atPath: keyDirectory) { return [] }
            throw IdentityError("cannot read the key directory \(keyDirectory): \(error.localizedDescription)")
        }
        var keys: [StoredKey] = []
        for name in names where name.hasPrefix("key-") && name.hasSuffix(".pem") {
            let stamp = name.dropFirst(4).dropLast(4)
            guard let millis = Int64(stamp) else { continue }
            let path = keyDirectory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            if info.st_mode & 0o077 != 0 {
                throw IdentityError(
                    "key file \(path) is accessible to other users (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0600")
            }
            guard let data = FileManager.default.contents(atPath: path), let pem = String(data: data, encoding: .utf8) else {
                throw IdentityError("cannot read key file \(path)")
            }
            let key: P256.Signing.PrivateKey
            do { key = try P256.Signing.PrivateKey(pemRepresentation: pem) } catch {
                throw IdentityError("key file \(path) does not hold a P-256 private key in PEM")
            }
            keys.append(StoredKey(created: Date(timeIntervalSince1970: Double(millis) / 1000), path: path, key: key, kid: Self.thumbprint(key.publicKey)))
        }
        return keys.sorted { $0.created < $1.created }
    }

    /// Creates a key when there is none or the newest is older than `maxAge`, and deletes keys
    /// whose tokens have all expired. Returns whether a key was created.
    @discardableResult
    public func rotateIfNeeded(maxAge: TimeInterval) throws(IdentityError) -> Bool {
        var keys = try loadKeys()
        let now = clock()
        var created = false
        if keys.isEmpty || now.timeIntervalSince(keys.last!.created) >= maxAge {
            keys.append(try createKey(at: now))
            created = true
        }
        for (i, key) in keys.enumerated().dropLast() where !Self.published(retiredAt: keys[i + 1].created, now: now) {
            _ = unlink(key.path)
        }
        return created
    }

    static func published(retiredAt: Date, now: Date) -> Bool {
        now.timeIntervalSince(retiredAt) < maximumLifetime + retentionSkew
    }

    private func createKey(at now: Date) throws(IdentityError) -> StoredKey {
        if mkdir(keyDirectory, 0o700) == 0 {
            _ = chmod(keyDirectory, 0o700)
        } else if errno != EEXIST {
            throw IdentityError("cannot create the key directory \(keyDirectory): \(String(cString: strerror(errno)))")
        }
        let key = P256.Signing.PrivateKey()
        var millis = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        while true {
            let path = "\(keyDirectory)/key-\(millis).pem"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { millis += 1; continue }
                throw IdentityError("cannot create key file \(path): \(String(cString: strerror(errno)))")
            }
            // Exactly 0600, whatever the umask took away.
            _ = fchmod(fd, 0o600)
            let bytes = Array(key.pemRepresentation.utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
            close(fd)
            guard written == bytes.count else { throw IdentityError("cannot write key file \(path)") }
            return StoredKey(created: Date(timeIntervalSince1970: Double(millis) / 1000), path: path, key: key, kid: Self.thumbprint(key.publicKey))
        }
    }

    /// The signing key, created when the directory has none.
    private func signingKey() throws(IdentityError) -> StoredKey {
        if let newest = try loadKeys().last { return newest }
        try rotateIfNeeded(maxAge: .infinity)
        guard let newest = try loadKeys().last else { throw IdentityError("no signing key in \(keyDirectory)") }
        return newest
    }

    // MARK: - JWKS

    /// The public keys a verifier needs: the signing key and the retired keys whose tokens may
    /// still be valid. Never a private part.
    public func jwks() throws(IdentityError) -> JSON {
        let keys = try loadKeys()
        let now = clock()
        var list: [JSON] = []
        for (i, key) in keys.enumerated() {
            if i < keys.count - 1, !Self.published(retiredAt: keys[i + 1].created, now: now) { continue }
            list.append(Self.jwk(key.key.publicKey, kid: key.kid))
        }
        return ["keys": .array(list.reversed())]
    }

    static func coordinates(_ key: P256.Signing.PublicKey) -> (x: String, y: String) {
        let raw = Array(key.rawRepresentation)
        return (base64URL(raw[0..<32]), base64URL(raw[32..<64]))
    }

    static func jwk(_ key: P256.Signing.PublicKey, kid: String) -> JSON {
        let (x, y) = coordinates(key)
        return ["kty": "EC", "crv": "P-256", "x": .string(x), "y": .string(y), "kid": .string(kid), "use": "sig", "alg": "ES256"]
    }

    /// RFC 7638: SHA-256 of the required members in lexicographic order, base64url.
    static func thumbprint(_ key: P256.Signing.PublicKey) -> String {
        let (x, y) = coordinates(key)
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        return base64URL(Array(SHA256.hash(data: Data(canonical.utf8))))
    }

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        var s = Data(bytes).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    // MARK: - Tokens

    /// The subject of a task's token: `repository:branch:workflow:state`.
    public static func subject(context: TriggerContext, state: String) -> String {
        "\(context.repository):\(context.branch):\(context.workflow):\(state)"
    }

    /// The claims a task's token carries.
    public func claims(context: TriggerContext, state: String, executionID: String, issuedAt: Date) -> JSONObject {
        let iat = Int(issuedAt.timeIntervalSince1970.rounded(.down))
        var c = JSONObject()
        c["iss"] = .string(issuer)
        c["aud"] = .string(audience)
        c["sub"] = .string(Self.subject(context: context, state: state))
        c["iat"] = .int(iat)
        c["nbf"] = .int(iat)
        c["exp"] = .int(iat + Int(lifetime))
        c["jti"] = .string(UUID().uuidString.lowercased())
        c["repository"] = .string(context.repository)
        c["branch"] = .string(context.branch)
        c["workflow"] = .string(context.workflow)
        c["state"] = .string(state)
        c["trigger"] = .string(context.kind.rawValue)
        c["execution_id"] = .string(executionID)
        c["change"] = context.change.map(JSON.string) ?? .null
        c["patch_set"] = context.patchSet.map(JSON.int) ?? .null
        c["approvers"] = .array(context.approvers.map(JSON.string))
        if let revision = context.revision { c["revision"] = .string(revision) }
        return c
    }

    /// A signed token for one task.
    public func token(context: TriggerContext, state: String, executionID: String) throws(IdentityError) -> String {
        try sign(claims(context: context, state: state, executionID: executionID, issuedAt: clock()))
    }

    /// Signs arbitrary claims with the current key (ES256, compact serialization).
    public func sign(_ claims: JSONObject) throws(IdentityError) -> String {
        let key = try signingKey()
        let header: JSON = ["alg": "ES256", "typ": "JWT", "kid": .string(key.kid)]
        let input = Self.base64URL(Array(header.serialized.utf8)) + "." + Self.base64URL(Array(JSON.object(claims).serialized.utf8))
        let signature: P256.Signing.ECDSASignature
        do { signature = try key.key.signature(for: Data(input.utf8)) } catch {
            throw IdentityError("signing failed: \(error)")
        }
        return input + "." + Self.base64URL(Array(signature.rawRepresentation))
    }
}
