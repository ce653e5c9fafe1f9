import ArgumentParser
import Foundation
import Runtime
import StatesLanguage

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Manage the keys that sign task identity tokens.",
        subcommands: [JWKS.self, Rotate.self, Token.self])

    struct JWKS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwks", abstract: "Print the public keys (JWKS) verifiers need; serve it at ISSUER/.well-known/jwks.")

        @Option(help: "The key directory.")
        var keys: String

        func run() async throws {
            let issuer: IdentityTokenIssuer
            do {
                issuer = try IdentityTokenIssuer(keyDirectory: keys, issuer: "unused", audience: "unused")
                writeStdout(try issuer.jwks().serialized + "\n")
            } catch { Terminal.fail(CLIFailure(message: error.description)) }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Create a signing key when there is none or the newest is older than --max-age; drop expired ones.")

        @Option(help: "The key directory (created 0700 when missing).")
        var keys: String

        @Option(help: "The age in seconds after which a new key is made.")
        var maxAge: Double = 86_400

        func run() async throws {
            do {
                let issuer = try IdentityTokenIssuer(keyDirectory: keys, issuer: "unused", audience: "unused")
                let created = try issuer.rotateIfNeeded(maxAge: maxAge)
                writeStdout(created ? "created a new signing key\n" : "the signing key is recent enough\n")
            } catch { Terminal.fail(CLIFailure(message: "\(error)")) }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token", abstract: "Mint a token for testing a verifier's configuration.")

        @Option(help: "The key directory.") var keys: String
        @Option(help: "The issuer (iss).") var issuer: String
        @Option(help: "The audience (aud).") var audience: String
        @Option(help: "The repository.") var repository: String
        @Option(help: "The branch.") var branch: String = ""
        @Option(help: "The workflow.") var workflow: String = ""
        @Option(help: "The state.") var state: String = ""
        @Option(help: "Lifetime in seconds (at most 900).") var lifetime: Double = 600

        func run() async throws {
            do {
                let minter = try IdentityTokenIssuer(keyDirectory: keys, issuer: issuer, audience: audience, lifetime: lifetime)
                let context = TriggerContext(kind: .manual, repository: repository, branch: branch, workflow: workflow)
                writeStdout(try minter.token(context: context, state: state, executionID: "stepgate:manual") + "\n")
            } catch { Terminal.fail(CLIFailure(message: "\(error)")) }
        }
    }
}
