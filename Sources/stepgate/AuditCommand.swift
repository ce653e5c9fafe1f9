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
                With --expect-head, a head recorded earlier outside the database (from this output, or from the \
                store URL's audit-head file) must still be in the log: this catches entries cut off the end and a \
                chain rewritten by someone who can write the database. \
                The store defaults to $STEPGATE_STORE, else sqlite://$HOME/.local/state/stepgate/stepgate.db.
                """)
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text
        @Option(help: ArgumentHelp("A head hash recorded earlier (64 hex digits) that the log must still hold.", valueName: "hash"))
        var expectHead: String?

        func validate() throws {
            if let expectHead, expectHead.count != 64 || !expectHead.allSatisfy(\.isHexDigit) {
                throw ValidationError("--expect-head must be a head hash: 64 hex digits (found '\(expectHead)')")
            }
        }

        func run() async throws {
            let store = storeOptions.open()
            let expected = expectHead
            let v = await storeCall { () async throws(StoreError) in try await store.audit.verify(expectedHead: expected) }
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
