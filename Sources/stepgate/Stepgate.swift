import ArgumentParser

@main
struct Stepgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stepgate",
        abstract: "Versioned, auditable state-machine workflows for code review and pushes.",
        version: "0.1.0",
        subcommands: [
            ValidateCommand.self, RunCommand.self, TestStateCommand.self, ExecutionsCommand.self, AuditCommand.self, HookCommand.self,
            HooksCommand.self, IdentityCommand.self, BotCommand.self,
        ])
}
