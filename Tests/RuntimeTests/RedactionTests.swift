import Foundation
import Runtime
import StatesLanguage
import Testing

/// `%2F` -> `%2f`, as some encoders write it.
func lowercaseHex(_ s: String) -> String {
    var out = ""
    var pending = 0
    for c in s {
        if c == "%" { pending = 2; out.append(c) } else if pending > 0 { out += c.lowercased(); pending -= 1 } else { out.append(c) }
    }
    return out
}

let fnOK = "arn:aws:lambda:us-east-1:123456789012:function:ok"
let fnFail = "arn:aws:lambda:us-east-1:123456789012:function:fail"
let fnOther = "arn:aws:lambda:us-east-1:123456789012:function:other"

@Suite struct RedactionTests {
    let secret = "s3cr3t/T0ken+value é\"x"
    var redactor: Redactor { Redactor(secrets: [secret, "short"]) }

    @Test func everyEncodingIsHidden() {
        let bytes = Data(secret.utf8)
        let b64 = bytes.base64EncodedString()
        let b64url = b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let unpadded = b64.replacingOccurrences(of: "=", with: "")
        let percent = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        var jsonEscaped = JSON.string(secret).serialized
        jsonEscaped.removeFirst()
        jsonEscaped.removeLast()
        for form in [secret, b64, b64url, unpadded, percent, lowercaseHex(percent), jsonEscaped] {
            let out = redactor.redact("before \(form) after")
            #expect(out == "before *** after", "\(form) -> \(out)")
        }
        // Inside a longer base64 text, at each alignment.
        for prefix in ["", "a", "ab", "abc", "token="] {
            let encoded = Data((prefix + secret + "\n").utf8).base64EncodedString()
            let out = redactor.redact(encoded)
            #expect(out.contains("***"), "\(prefix): \(encoded)")
            let middle = Data(secret.utf8).base64EncodedString().dropFirst(4).prefix(12)
            #expect(!out.contains(middle))
        }
        #expect(redactor.redact("short") == "***")
        #expect(Redactor(secrets: []).redact("anything") == "anything")
    }

    @Test func hexAndEveryBytePercentEncodedAreHidden() {
        let bytes = Array(secret.utf8)
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let percent = bytes.map { String(format: "%%%02X", $0) }.joined()
        for form in [hex, hex.uppercased(), percent, percent.lowercased()] {
            #expect(redactor.redact("before \(form) after") == "before *** after", "\(form)")
        }
    }

    @Test func aSecretSplitOverLinesIsHidden() {
        let r = Redactor(secrets: ["split-secret-0123456789"])
        #expect(r.redact("begin split-secr\net-0123456789 end") == "begin *** end")
        #expect(r.redact("begin split-\r\nsecret-01\n23456789 end") == "begin *** end")
        // base64 as `base64` prints it: wrapped at 76 columns.
        let long = String(repeating: "long-secret-", count: 10)
        let wrapped = Data(long.utf8).base64EncodedString(options: .lineLength76Characters).replacingOccurrences(of: "\r\n", with: "\n")
        #expect(wrapped.contains("\n"))
        let out = Redactor(secrets: [long]).redact("token:\n\(wrapped)\n")
        #expect(out == "token:\n***\n", "\(out)")
        // Lines that happen to hold pieces of a short word are left alone.
        #expect(Redactor(secrets: ["abc"]).redact("a\nbc") == "a\nbc")
    }

    @Test func combiningCharactersAfterASecretDoNotHideIt() {
        let r = Redactor(secrets: ["combining-secret-42"])
        let out = r.redact("x combining-secret-42\u{0301}\u{0327} y")
        #expect(out == "x ***\u{0301}\u{0327} y")
        #expect(!out.unicodeScalars.map(String.init).joined().contains("combining-secret"))
        // Swift's own comparison would have missed it: the last character is a different one.
        #expect(!"x combining-secret-42\u{0301} y".contains("combining-secret-42"))
    }

    @Test func aSecretCutByACapIsHiddenWhole() {
        let s = "capped-secret-abcdefgh"
        let r = Redactor(secrets: [s])
        let text = String(repeating: "x", count: 95) + s + " and more"
        let (kept, cut) = r.redact(Array(text.utf8), keepingFirst: 100)
        #expect(cut)
        #expect(kept == String(repeating: "x", count: 95) + "***")
        let (whole, notCut) = r.redact(Array("short \(s)".utf8), keepingFirst: 100)
        #expect(whole == "short ***" && !notCut)
        #expect(r.longestPatternLength >= s.utf8.count)
    }

    @Test func jsonValuesAreRedactedRecursively() {
        let value: JSON = ["a": .string("x \(secret) y"), "list": [.string(secret), 1, ["deep": .string("short")]], .init(stringLiteral: secret): true]
        let out = redactor.redact(value)
        #expect(!out.serialized.contains("s3cr3t"))
        #expect(out["a"] == "x *** y")
        #expect(out["list"] == [.string("***"), 1, ["deep": "***"]])
        #expect(out["***"] == true)
    }

    @Test func executorWrapperRedactsResultsAndErrors() async throws {
        let secret = self.secret
        let inner = InMemoryTaskExecutor([
            fnOK: { _ in ["out": .string("got \(secret)")] },
            fnFail: { _ in throw ExecutionError("E.Failed", "cause has \(secret)") },
            fnOther: { _ in throw TestFailure("plain error with \(secret)") },
        ])
        let wrapped = RedactingTaskExecutor(inner: inner, redactor: Redactor(secrets: [secret]))
        let ok = try await runTask(wrapped, resource: fnOK, parameters: [:])
        #expect(ok.output == ["out": "got ***"])
        #expect(!ok.history.contains { ($0.output?.serialized ?? "").contains("s3cr3t") })
        let failed = try await runTask(wrapped, resource: fnFail, parameters: [:])
        #expect(failed.error == "E.Failed")
        #expect(failed.cause == "cause has ***")
        let other = try await runTask(wrapped, resource: fnOther, parameters: [:])
        #expect(other.error == "States.TaskFailed")
        #expect(other.cause == "plain error with ***")
    }
}
