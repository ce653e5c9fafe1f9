import ArgumentParser
import Bot
import Foundation
import Logging
import ReviewClients
import Runtime
import ServiceLifecycle
import UnixSignals
import Store

/// `stepgate bot --config FILE [--once]`: the polling review bot.
struct BotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bot",
        abstract: "Run the review bot: poll Gerrit (and Phorge), run triggered workflows, report on the review.",
        discussion: """
            The configuration (bot.yaml) is server-side: servers, mirrors, store and roles; see bot/README.md. \
            Without --once the bot runs until SIGTERM or SIGINT, which finish the current step and stop. With \
            --once it polls every server once, runs what that cycle started to its end (or to a wait for an \
            approval), reports, and exits: 0, or 1 when a server could not be polled.
            """)

    @Option(help: "The bot configuration file (bot.yaml).")
    var config: String

    @Flag(help: "Poll every server once, run and report what that started, then exit.")
    var once = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "stepgate.bot")
        let configuration: BotConfiguration
        do { configuration = try BotConfiguration.load(path: config) } catch {
            Terminal.printError(error.description)
            throw ExitCode(2)
        }
        let store: any ExecutionStore
        do { store = try openStore(url: configuration.store) } catch { Terminal.fail(CLIFailure(message: error.message)) }
        // Tasks run in the sandbox or not at all: a bot that cannot make one says so once and stops.
        let sandbox = configuration.taskSandbox(storeFiles: store.privateFiles)
        if let unavailable = sandbox.probe() {
            Terminal.fail(CLIFailure(message: "\(config): \(unavailable.description)"))
        }
        if sandbox.mode == .none { Terminal.printError("stepgate: warning: \(Sandbox.unsandboxedNotice)") }
        let failed: Bool = try await ReviewHTTP.withHTTPClient(backgroundActivityLogger: logger) { http in
            var platforms: [any ReviewPlatform] = []
            for server in configuration.gerrit {
                do {
                    platforms.append(
                        try GerritPlatform(
                            configuration: server, repositories: configuration.repositories, httpClient: http, logger: logger))
                } catch {
                    Terminal.printError("stepgate: error: gerrit server \(server.name): \(error)")
                    throw ExitCode(2)
                }
            }
            for server in configuration.phabricator {
                do {
                    platforms.append(
                        try PhorgePlatform(
                            configuration: server, repositories: configuration.repositories, httpClient: http,
                            markers: StoreMarkers(store: store), logger: logger))
                } catch {
                    Terminal.printError("stepgate: error: phabricator server \(server.name): \(error)")
                    throw ExitCode(2)
                }
            }
            let engine = BotEngine(configuration: configuration, store: store, platforms: platforms, logger: logger)
            if once {
                let summary = await engine.runOnce(onSettled: { summary in
                    Self.printSummary(summary)
                    Foundation.exit(summary.failedServers.isEmpty ? 0 : 1)
                })
                Self.printSummary(summary)
                return !summary.failedServers.isEmpty
            }
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: BotService(engine: engine, logger: logger))],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            return false
        }
        if failed { throw ExitCode(1) }
    }

    static func printSummary(_ s: CycleSummary) {
        let line =
            "polled \(s.polledServers.count) server(s), \(s.failedServers.count) failed; started \(s.started.count), "
                + "reported \(s.reported.count), skipped \(s.skipped.count), cancelled \(s.cancelled.count), "
                + "waiting for approval \(s.waiting.count)\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
