import Foundation
import StatesLanguage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A gate's command task, run by the hooks, as an attacker writes it: it cannot read another
/// role's secret, the hook configuration, the hooks' store or the served repository; it sees no
/// process of the server's; a task ignoring SIGTERM or escaping with setsid is gone at the
/// budget; and its own role's secret, printed in every encoding, reaches neither the pusher nor
/// the store.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SandboxedGateTests {
    static let config = """
        version: 1
        workflows:
          probe:
            definition: workflows/probe.asl.json
            on:
              pre-receive: {refs: [refs/heads/main]}

        """

    /// The server's files a task must never read.
    struct Paths {
        var other: String
        var hooks: String
        var store: String
        var gitDirectory: String
        var all: [String] { [other, hooks, store, gitDirectory + "/config", gitDirectory + "/HEAD"] }
    }

    /// The world: a served repository whose main holds the gate `gate(paths)` makes as its trusted
    /// gate, hooks installed with a role granted to it (its secret `s3cr3t-value-4711`) and another
    /// role with its own secret file.
    func world(timeout: String = "20s", gate: (Paths) -> String) throws -> (World, Paths) {
        let world = try World(install: false)
        let paths = Paths(
            other: world.root + "/other-secret", hooks: world.root + "/hooks.yaml", store: world.server + "/stepgate/stepgate.db",
            gitDirectory: world.server)
        try world.commit("init", [".stepgate/stepgate.yaml": Self.config, ".stepgate/workflows/probe.asl.json": gate(paths)])
        #expect(try world.push().status == 0)
        let secret = world.root + "/granted-secret"
        try world.writeFile(secret, "s3cr3t-value-4711\n")
        try world.writeFile(paths.other, "other-role-secret-0815\n")
        try world.writeFile(
            paths.hooks,
            """
            hooks: {timeout: \(timeout)}
            roles:
              gatekeeper:
                secrets: {GATE_TOKEN: {file: \(secret)}}
                allow: {repositories: [server]}
              deployer:
                secrets: {DEPLOY_TOKEN: {file: \(paths.other)}}
                allow: {repositories: [server]}

            """)
        try world.install(["--config", paths.hooks])
        return (world, paths)
    }

    static func gate(_ script: String, timeout: Int = 20) -> String {
        let command = String(decoding: try! JSONSerialization.data(withJSONObject: ["sh", "-c", script]), as: UTF8.self)
        return """
            {"StartAt": "Probe", "States": {"Probe": {"Type": "Task", "Resource": "stepgate:command",
              "Parameters": {"command": \(command)}, "Credentials": {"RoleArn": "gatekeeper"},
              "TimeoutSeconds": \(timeout), "End": true}}}

            """
    }

    @Test func aGateTaskSeesNothingOfTheServerAndLeaksNoSecret() throws {
        // Each probe prints "seen:PATH" or "denied:PATH"; then the secret in every encoding, on
        // stderr (which the pusher sees through the failure's cause), and past the output cap.
        let (world, paths) = try world { paths in
            let files = paths.all.map { "'\($0)'" }.joined(separator: " ")
            return Self.gate(
                """
                for f in \(files); do
                  if cat "$f" >/dev/null 2>&1; then echo "seen:$f" >&2; else echo "denied:$f" >&2; fi
                done
                echo "processes:$(ls /proc | grep -c '^[0-9]')" >&2
                for p in stepgate-hook stepgate git git-receive-pack; do pgrep -x "$p" >/dev/null 2>&1 && echo "saw-stepgate" >&2; done
                S="$GATE_TOKEN"
                echo "raw:$S" >&2
                printf '%s' "$S" | base64 >&2
                printf '%s' "$S" | od -An -tx1 | tr -d ' \\n' >&2; echo >&2
                printf '%s' "$S" | od -An -tx1 | tr -d '\\n' | sed 's/ /%/g' >&2; echo >&2
                printf '%s\\n%s\\n' "${S%????????}" "${S#${S%????????}}" >&2
                head -c 1048570 /dev/zero | tr '\\0' x; printf '%s' "$S"
                exit 3
                """)
        }
        try world.commit("probe", ["a.txt": "a\n"])
        let probed = try world.push()
        #expect(probed.status != 0, "the probe gate fails on purpose: \(probed.stderr)")
        let lines = probed.stderr
        for path in paths.all {
            #expect(lines.contains("denied:\(path)"), "the task read \(path): \(lines)")
            #expect(!lines.contains("seen:\(path)"), "\(lines)")
        }
        #expect(!lines.contains("saw-stepgate"), "the task saw the hook's processes: \(lines)")
        let processes = lines.components(separatedBy: "processes:").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect((processes ?? 99) <= 6, "the task sees \(processes ?? -1) processes: \(lines)")
        // The secret, in every encoding, reaches neither the pusher nor the store.
        let forms = Self.encodings(of: "s3cr3t-value-4711")
        for form in forms { #expect(!lines.contains(form), "the pusher saw \(form): \(lines)") }
        #expect(lines.contains("raw:***"), "the pusher sees the redacted output: \(lines)")
        let store = try Data(contentsOf: URL(fileURLWithPath: paths.store))
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: paths.store + "-wal"))) ?? Data()
        for form in forms {
            #expect(store.range(of: Data(form.utf8)) == nil && wal.range(of: Data(form.utf8)) == nil, "the store holds \(form)")
        }
    }

    /// Every form a task could print the secret in: raw, base64, hex (both cases), percent-encoded,
    /// its two halves as split across lines.
    static func encodings(of secret: String) -> [String] {
        let bytes = Array(secret.utf8)
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        return [
            secret, Data(bytes).base64EncodedString(), hex, hex.uppercased(),
            bytes.map { String(format: "%%%02x", $0) }.joined(), String(secret.prefix(secret.count - 8)) + "\n" + String(secret.suffix(8)),
        ]
    }

    /// A gate that ignores SIGTERM, or escapes its process group with setsid, is gone when the
    /// budget ends, and the rejection names it.
    @Test(arguments: ["trap '' TERM; sleep 617", "setsid sleep 618 & wait"])
    func aGateThatOutstaysTheBudgetIsKilledWithItsWholeTree(_ script: String) throws {
        let (world, _) = try world(timeout: "2s") { _ in Self.gate(script, timeout: 600) }
        try world.commit("slow", ["b.txt": "b\n"])
        let started = Date()
        let out = try world.push()
        let elapsed = Date().timeIntervalSince(started)
        #expect(out.status != 0)
        #expect(out.stepgateLines.contains { $0.contains("gate probe did not finish within its time budget") }, "\(out.stderr)")
        #expect(elapsed < 4.5, "the push took \(elapsed) s")
        let marker = script.contains("617") ? "sleep 617" : "sleep 618"
        Thread.sleep(forTimeInterval: 0.3)
        #expect(Self.processes(matching: marker).isEmpty, "\(marker) outlived the gate")
    }

    static func processes(matching text: String) -> [pid_t] {
        var found: [pid_t] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let line = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            if line.contains(text) { found.append(pid) }
        }
        return found
    }
}
