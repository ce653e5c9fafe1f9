import Foundation
import Runtime
import StatesLanguage
import Testing

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date) { current = start }
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: Double) { lock.withLock { current += seconds } }
}

/// Verifies a token with joserfc (an independent implementation), printing header, claims and
/// whether the registered claims are valid now.
let verifierScript = #"""
    import json, sys
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jwt import JWTClaimsRegistry
    keys = KeySet.import_key_set(json.load(open(sys.argv[1])))
    token = open(sys.argv[2]).read().strip()
    try:
        tok = jwt.decode(token, keys, algorithms=["ES256"])
    except Exception as e:
        print(json.dumps({"status": "bad signature: " + type(e).__name__}))
        sys.exit(0)
    registry = JWTClaimsRegistry(iss={"essential": True, "value": sys.argv[3]}, aud={"essential": True, "value": sys.argv[4]},
                                 sub={"essential": True}, exp={"essential": True}, iat={"essential": True}, jti={"essential": True})
    try:
        registry.validate(tok.claims)
        status = "valid"
    except Exception as e:
        status = "invalid: " + type(e).__name__
    print(json.dumps({"header": tok.header, "claims": tok.claims, "status": status}))
    """#

func verifyWithPython(jwks: JSON, token: String, issuer: String, audience: String) throws -> JSON {
    let dir = try makeTemporaryDirectory("jwt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try jwks.serialized.write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
    try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
    try verifierScript.write(toFile: dir + "/verify.py", atomically: true, encoding: .utf8)
    let r = try runProgram("/usr/bin/env", ["python3", dir + "/verify.py", dir + "/jwks.json", dir + "/token", issuer, audience])
    guard r.status == 0 else { throw TestFailure("verifier failed: \(r.stderr)") }
    return try JSONParser.parse(r.stdout)
}

@Suite struct IdentityTests {
    let issuerURL = "https://stepgate.example.org"
    let audience = "sts.example.com"
    let context = TriggerContext(
        kind: .gerrit, repository: "demo", branch: "main", workflow: "deploy", labels: ["Code-Review": 2], change: "1234",
        patchSet: 3, approvers: ["alice", "bob"], revision: "0123456789abcdef0123456789abcdef01234567")

    @Test func keysAreCreatedPrivateWhateverTheUmask() throws {
        let dir = try makeTemporaryDirectory("umask")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A umask that takes the owner's write bit: the key must still come out exactly 0600.
        let previous = umask(0o277)
        defer { umask(previous) }
        let issuer = try IdentityTokenIssuer(keyDirectory: dir + "/keys", issuer: issuerURL, audience: audience)
        #expect(try issuer.rotateIfNeeded(maxAge: 86_400))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/keys")
        #expect(names.count == 1)
        var info = stat()
        #expect(stat(dir + "/keys", &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(dir + "/keys/" + names[0], &info) == 0 && info.st_mode & 0o777 == 0o600)
        // And it is usable (readable, not refused as too open).
        _ = try issuer.token(context: context, state: "Deploy", executionID: "exec-1")
    }

    @Test func tokensVerifyWithAnIndependentLibrary() throws {
        let dir = try makeTemporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = dir + "/keys"
        let issuer = try IdentityTokenIssuer(keyDirectory: keys, issuer: issuerURL, audience: audience)
        #expect(try issuer.rotateIfNeeded(maxAge: 86_400))
        #expect(try !issuer.rotateIfNeeded(maxAge: 86_400))
        let token = try issuer.token(context: context, state: "Deploy", executionID: "exec-42")
        let jwks = try issuer.jwks()
        #expect(!jwks.serialized.contains("\"d\""), "no private part in the JWKS")
        let result = try verifyWithPython(jwks: jwks, token: token, issuer: issuerURL, audience: audience)
        #expect(result["status"] == "valid", "\(result)")
        let claims = try #require(result["claims"])
        #expect(claims["sub"] == "demo:main:deploy:Deploy")
        #expect(claims["iss"] == .string(issuerURL))
        #expect(claims["aud"] == .string(audience))
        #expect(claims["change"] == "1234")
        #expect(claims["patch_set"] == 3)
        #expect(claims["approvers"] == ["alice", "bob"])
        #expect(claims["execution_id"] == "exec-42")
        #expect(claims["trigger"] == "gerrit")
        let iat = try #require(claims["iat"]?.intValue)
        let exp = try #require(claims["exp"]?.intValue)
        #expect(exp - iat <= 900)
        #expect(exp - iat == 600)
        #expect(result["header"]?["alg"] == "ES256")
        #expect(result["header"]?["kid"] == jwks["keys"]?.arrayValue?.first?["kid"])
        // Files are private.
        var info = stat()
        #expect(stat(keys, &info) == 0 && info.st_mode & 0o777 == 0o700)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: keys).first)
        #expect(stat(keys + "/" + file, &info) == 0 && info.st_mode & 0o777 == 0o600)
        // A tampered token is rejected.
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = String(parts[1].dropLast()) + (parts[1].hasSuffix("A") ? "B" : "A")
        let tampered = try verifyWithPython(jwks: jwks, token: parts.joined(separator: "."), issuer: issuerURL, audience: audience)
        #expect(tampered["status"]?.stringValue?.hasPrefix("bad signature") == true, "\(tampered)")
    }

    @Test func expiredTokensAreRejected() throws {
        let dir = try makeTemporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = TestClock(Date().addingTimeInterval(-1200))
        let issuer = try IdentityTokenIssuer(keyDirectory: dir + "/k", issuer: issuerURL, audience: audience, lifetime: 300, clock: { clock.now })
        let token = try issuer.token(context: context, state: "Deploy", executionID: "e")
        let result = try verifyWithPython(jwks: try issuer.jwks(), token: token, issuer: issuerURL, audience: audience)
        #expect(result["status"]?.stringValue?.hasPrefix("invalid") == true, "\(result)")
        #expect(result["status"]?.stringValue?.contains("Expired") == true, "\(result)")
        #expect(throws: IdentityError.self) { try IdentityTokenIssuer(keyDirectory: dir, issuer: "i", audience: "a", lifetime: 901) }
    }

    @Test func rotationKeepsThePreviousKeyUntilItsTokensExpire() throws {
        let dir = try makeTemporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = TestClock(Date())
        let issuer = try IdentityTokenIssuer(keyDirectory: dir + "/k", issuer: issuerURL, audience: audience, clock: { clock.now })
        try issuer.rotateIfNeeded(maxAge: 3600)
        let oldToken = try issuer.token(context: context, state: "A", executionID: "e")
        clock.advance(3601)
        #expect(try issuer.rotateIfNeeded(maxAge: 3600))
        let jwks = try issuer.jwks()
        #expect(jwks["keys"]?.arrayValue?.count == 2)
        let newToken = try issuer.token(context: context, state: "A", executionID: "e")
        #expect(oldToken.split(separator: ".")[0] != newToken.split(separator: ".")[0], "a different kid signs")
        // Still published a while later, gone once every old token has expired.
        clock.advance(600)
        #expect(try !issuer.rotateIfNeeded(maxAge: 3600))
        #expect(try issuer.jwks()["keys"]?.arrayValue?.count == 2)
        clock.advance(400)
        try issuer.rotateIfNeeded(maxAge: 3600)
        #expect(try issuer.jwks()["keys"]?.arrayValue?.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/k").count == 1)
    }

    @Test func commandTasksReceiveTheToken() async throws {
        let dir = try makeTemporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let issuer = try IdentityTokenIssuer(keyDirectory: dir + "/k", issuer: issuerURL, audience: audience)
        let executor = commandExecutor(directory: dir, identity: issuer)
        // The token itself is redacted from results; its claims are not secret.
        let r = try await runTask(
            executor, parameters: ["command": ["sh", "-c", #"echo "$STEPGATE_ID_TOKEN" > token; echo "$STEPGATE_ID_TOKEN""#]], stateName: "Deploy")
        #expect(r.output?["stdout"] == "***\n")
        let token = try String(contentsOfFile: dir + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try verifyWithPython(jwks: try issuer.jwks(), token: token, issuer: issuerURL, audience: audience)
        #expect(result["status"] == "valid")
        #expect(result["claims"]?["sub"] == "demo:main:wf:Deploy")
        #expect(result["claims"]?["trigger"] == "manual")
        #expect(result["claims"]?["execution_id"] == "exec-1")
    }
}
