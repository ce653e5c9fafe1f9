public import Runtime
public import StatesLanguage

extension EngineSelection {
    /// Reads the `engine` settings and the `aws` section of bot.yaml or the hook configuration together.
    /// - Throws: ``Runtime/PolicyError`` with every problem, located; `engine: aws` without an `aws` section is one.
    public static func withAWS(_ document: SourceDocument) throws(PolicyError) -> (EngineSelection, AWSEngineSettings?) {
        var diagnostics: [Diagnostic] = []
        var selection = EngineSelection()
        var aws: AWSEngineSettings?
        do { selection = try parse(document) } catch { diagnostics += error.diagnostics }
        do { aws = try AWSEngineSettings.parse(document) } catch { diagnostics += error.diagnostics }
        if diagnostics.isEmpty && selection.uses(.aws) && aws == nil {
            diagnostics.append(
                Diagnostic(.error, "engine aws needs an 'aws' section (region, role-arn)", at: [], location: .init(line: 1, column: 1)))
        }
        guard diagnostics.isEmpty else { throw PolicyError(fileName: document.fileName, diagnostics: diagnostics) }
        return (selection, aws)
    }
}
