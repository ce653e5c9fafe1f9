import AWS
import Logging
import Runtime

extension BotEngine {
    /// The engine of bot.yaml's `aws` section; when it cannot be made (no credentials), one that fails each
    /// `engine: aws` run with that reason, so that the review says why.
    static func remoteEngine(_ configuration: BotConfiguration, logger: Logger) -> (any RemoteEngine)? {
        guard let settings = configuration.aws else { return nil }
        do {
            return try StepFunctionsEngine(settings: settings)
        } catch {
            logger.error("the AWS engine is unavailable", metadata: ["error": "\(error)"])
            return UnavailableEngine(reason: error.description)
        }
    }
}
