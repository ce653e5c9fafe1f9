import ArgumentParser
import Foundation
import Hooks

/// `stepgate hook pre-receive|update|post-receive` (what the shims run when `stepgate-hook` is not
/// beside the binary) and the detached `stepgate hook run-push` that post-receive starts; all of
/// them are ``Hooks/HookMain``.
struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Run a server-side git hook (called by the shims `stepgate hooks install` puts in place).",
        subcommands: [PreReceive.self, Update.self, PostReceive.self, RunPush.self])

    struct PreReceive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pre-receive",
            abstract: "Validate pushed .stepgate/ files and run push gates; reads '<old> <new> <ref>' lines on stdin.")

        @Option(help: "The time budget for the whole hook (e.g. 5s, 500ms); overrides hooks.timeout.")
        var timeout: String?

        func run() async throws {
            throw ExitCode(await HookMain.run(arguments: ["pre-receive"] + (timeout.map { ["--timeout", $0] } ?? [])))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update", abstract: "The same checks as pre-receive, for one ref: <ref> <old> <new>.")

        @Option(help: "The time budget for the whole hook (e.g. 5s, 500ms); overrides hooks.timeout.")
        var timeout: String?

        @Argument(help: "<ref> <old> <new>, as git passes them.")
        var arguments: [String] = []

        func run() async throws {
            throw ExitCode(await HookMain.run(arguments: ["update"] + (timeout.map { ["--timeout", $0] } ?? []) + arguments))
        }
    }

    struct PostReceive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "post-receive",
            abstract: "Start push workflows in the background; reads '<old> <new> <ref>' lines on stdin.")

        func run() async throws {
            throw ExitCode(await HookMain.run(arguments: ["post-receive"]))
        }
    }

    struct RunPush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-push", abstract: "Run one recorded push workflow to its end (started by post-receive).",
            shouldDisplay: false)

        @Option(help: "The repository's git directory.")
        var gitDir: String

        @Option(help: "The hooks' store.")
        var store: String

        @Option(help: "The execution post-receive recorded.")
        var execution: String

        func run() async throws {
            throw ExitCode(await HookMain.run(arguments: ["run-push", "--git-dir", gitDir, "--store", store, "--execution", execution]))
        }
    }
}
