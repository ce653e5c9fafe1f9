import ArgumentParser
import StatesLanguage
import Store

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The append-only, hash-chained audit log of every call made by automation.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log's hash chain.",
            discussion: """
                Prints `audit log intact: N entries` (and the newest hash, worth recording elsewhere) and exits 0, \
                or prints one line per problem (an edited, removed, inserted or reordered entry, by seq) and exits 1. \
                The store defaults to $STEPGATE_STORE, else sqlite://$HOME/.local/state/stepgate/stepgate.db.
                """)
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let store = storeOptions.open()
            let v = await storeCall { () async throws(StoreError) in try await store.audit.verify() }
            switch format {
            case .json:
                let problems = v.problems.map { p in
                    JSON.object(JSONObject([("seq", .int(p.seq)), ("kind", .string(p.kind.rawValue)), ("message", .string(p.message))]))
                }
                writeStdout(
                    JSON.object(
                        JSONObject([
                            ("intact", .bool(v.isIntact)), ("entries", .int(v.entries)), ("head", .string(v.headHash)),
                            ("problems", .array(problems)),
                        ])
                    ).serialized + "\n")
            case .text:
                if v.isIntact {
                    writeStdout("audit log intact: \(v.entries) entries (head \(v.headHash))\n")
                } else {
                    writeStdout(v.problems.map { "audit log: \($0.description)\n" }.joined())
                }
            }
            if !v.isIntact { throw ExitCode(1) }
        }
    }
}
