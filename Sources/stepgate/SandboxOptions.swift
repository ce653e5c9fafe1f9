import ArgumentParser
import Foundation
import Runtime

/// `--sandbox bubblewrap|none`, shared by the commands that run command tasks locally.
struct SandboxOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "How command tasks are isolated: bubblewrap or none.",
            discussion: "Default: the policy file's 'sandbox' setting, else bubblewrap."))
    var sandbox: String?

    func validate() throws {
        if let sandbox, Sandbox.Mode(rawValue: sandbox) == nil {
            throw ValidationError("--sandbox must be bubblewrap or none (found '\(sandbox)')")
        }
    }

    /// The sandbox to run tasks in, hiding `protectedPaths` from them. Without `--sandbox`, the
    /// policy file's setting decides; a bad setting is one line and exit status 2. With `none`,
    /// stderr says so.
    func resolve(policyFile: String?, protecting protectedPaths: [String]) -> Sandbox {
        var mode = Sandbox.Mode.bubblewrap
        if let sandbox, let chosen = Sandbox.Mode(rawValue: sandbox) {
            mode = chosen
        } else if let policyFile {
            do { mode = try Sandbox.mode(in: RolePolicy.readDocument(path: policyFile)) } catch {
                Terminal.printError(error.description)
                Foundation.exit(2)
            }
        }
        if mode == .none { Terminal.printError("stepgate: warning: \(Sandbox.unsandboxedNotice)") }
        return Sandbox(mode: mode, protectedPaths: protectedPaths)
    }
}
