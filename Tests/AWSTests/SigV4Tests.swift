import AWS
import Foundation
import Testing

/// Our signatures against botocore's own signer (`botocore.auth.SigV4Auth`), run in python3 with its clock fixed.
@Suite struct SigV4Tests {
    struct Case: Sendable, CustomStringConvertible {
        var method: String
        var url: String
        var headers: [(String, String)]
        var body: String
        var token: String?
        var description: String { "\(method) \(url)" }
    }

    static let cases: [Case] = [
        Case(
            method: "POST", url: "https://states.eu-west-1.amazonaws.com/",
            headers: [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AWSStepFunctions.StartExecution")],
            body: #"{"stateMachineArn":"arn:aws:states:eu-west-1:123456789012:stateMachine:demo","name":"gerrit-1-1"}"#),
        Case(
            method: "POST", url: "http://127.0.0.1:5000/",
            headers: [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AWSStepFunctions.GetActivityTask")],
            body: #"{"activityArn":"arn:aws:states:us-east-1:123456789012:activity:x","workerName":"w 1"}"#, token: "FQoGZXIvYXdzE//token+/="),
        Case(
            method: "GET", url: "https://example.amazonaws.com/a%20b/c~d/?b=2&a=1&a=0&empty=&x=%2F",
            headers: [("X-Custom", "  two   spaces  "), ("User-Agent", "not signed")], body: ""),
        Case(method: "PUT", url: "https://example.amazonaws.com:8443/über/ünïcode", headers: [], body: "ünïcode body ✓"),
    ]

    @Test(arguments: cases) func matchesBotocore(_ c: Case) throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600 + 3_723)  // 2026-01-01T01:02:03Z
        let credentials = AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: c.token)
        let url = try #require(URL(string: c.url))
        let ours = SigV4Signer(credentials: credentials, region: "eu-west-1", service: "states")
            .sign(method: c.method, url: url, headers: c.headers, body: Array(c.body.utf8), date: date)
        // botocore signs the URL as it goes on the wire (percent-encoded), as we do.
        var sent = c
        sent.url = url.absoluteString
        let theirs = try botocore(sent, credentials: credentials, date: date)
        for name in ["Authorization", "X-Amz-Date", "X-Amz-Security-Token"] {
            #expect(ours.first { $0.0 == name }?.1 == theirs[name], "\(name)")
        }
        #expect(theirs["Authorization"]?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/states/") == true)
    }

    /// The headers botocore adds to the same request.
    func botocore(_ c: Case, credentials: AWSCredentials, date: Date) throws -> [String: String] {
        let script = """
            import datetime, json, sys
            from unittest import mock
            import botocore.auth
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            a = json.load(sys.stdin)
            request = AWSRequest(method=a["method"], url=a["url"], data=a["body"].encode(), headers=dict(a["headers"]))
            auth = SigV4Auth(Credentials(a["key"], a["secret"], a["token"]), "states", "eu-west-1")
            now = datetime.datetime.fromtimestamp(a["time"], datetime.timezone.utc).replace(tzinfo=None)
            with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
                auth.add_auth(request)
            print(json.dumps({k: v for k, v in request.headers.items()}))
            """
        let input: [String: Any] = [
            "method": c.method, "url": c.url, "body": c.body, "headers": c.headers.map { [$0.0, $0.1] },
            "key": credentials.accessKeyID, "secret": credentials.secretAccessKey, "token": credentials.sessionToken as Any,
            "time": date.timeIntervalSince1970,
        ]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let stdin = Pipe()
        let stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        try p.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: input))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "python3 with botocore failed (pip install botocore)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
    }
}
