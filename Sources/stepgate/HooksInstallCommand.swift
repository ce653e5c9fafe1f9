import ArgumentParser
import Foundation
import Hooks

/// `stepgate hooks install BARE_REPO`.
struct HooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks", abstract: "Manage the server-side hook shims.", subcommands: [Install.self, Shim.self])

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install the pre-receive and post-receive shims into a (bare) repository.",
            discussion: """
                A hook that is already there and is not a stepgate shim is kept as NAME.stepgate-chained and \
                runs first, with the same input; it is never replaced. Running the command again changes \
                nothing; --force replaces an earlier stepgate shim (another binary path or version).
                """)

        @Argument(help: "The repository (its git directory).")
        var repository: String

        @Flag(help: "Replace an earlier stepgate shim that differs.")
        var force = false

        @Option(help: "The hook configuration file (hooks: timeout, on-error, pusher-variables; roles); recorded as stepgate.config.")
        var config: String?

        @Option(help: "The stepgate binary the shims run (default: this one).")
        var binary: String?

        @Flag(help: "Install update instead of pre-receive: each ref is judged on its own, so others can still be accepted.")
        var perRef = false

        func run() async throws {
            var binaryPath = binary ?? HookMain.executablePath()
            if !binaryPath.hasPrefix("/") { binaryPath = FileManager.default.currentDirectoryPath + "/" + binaryPath }
            do {
                let lines = try HookInstaller.install(
                    repositoryPath: repository, binary: binaryPath, configFile: config, force: force,
                    hooks: perRef ? HookInstaller.perRefHooks : HookInstaller.defaultHooks)
                writeStdout(lines.map { $0 + "\n" }.joined())
            } catch {
                Terminal.fail(CLIFailure(message: error.description, exitCode: 1))
            }
        }
    }

    struct Shim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shim", abstract: "Print a hook shim (pre-receive, update or post-receive) as installed, without a baked binary.")

        @Argument(help: "pre-receive, update or post-receive.")
        var name: String

        @Option(help: "A stepgate binary to bake in.")
        var binary: String?

        func run() async throws {
            guard HookInstaller.allHooks.contains(name) else {
                Terminal.fail(CLIFailure(message: "no shim named \(name) (pre-receive, update, post-receive)"))
            }
            writeStdout(HookInstaller.shim(name, binary: binary))
        }
    }
}
