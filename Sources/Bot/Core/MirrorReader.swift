import Config
import Foundation
import Git
import StatesLanguage
import YAMLLoader

/// Reads the trusted side of a repository (the target branch's tip in the bot's mirror) and validates the
/// `.stepgate/` files of a revision. Synchronous libgit2 calls; each call opens the mirror and closes it.
enum MirrorReader {
    struct Trusted: Sendable {
        var configuration: TrustedConfiguration
        /// The branch tip the configuration was read at (definitions are read from the same commit).
        var tip: String?
    }

    static func trusted(mirror: MirrorConfiguration, branch: String) throws -> Trusted {
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        let name = branch.hasPrefix("refs/") ? branch : "refs/heads/" + branch
        guard let tip = try repository.reference(name) else {
            return Trusted(configuration: .absent, tip: nil)
        }
        guard let bytes = try repository.blob(at: RepositoryConfigLoader.path, commit: tip) else {
            return Trusted(configuration: .absent, tip: tip.description)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let (config, diagnostics) = RepositoryConfigLoader.load(text, fileName: RepositoryConfigLoader.path)
        guard let config else {
            let first = diagnostics.first { $0.severity == .error }
            return Trusted(
                configuration: .invalid(first?.formatted(file: RepositoryConfigLoader.path) ?? "invalid configuration"),
                tip: tip.description)
        }
        return Trusted(configuration: .config(config), tip: tip.description)
    }

    /// The definition text a workflow names, at the trusted tip.
    static func definition(mirror: MirrorConfiguration, tip: String, path: String) throws -> String? {
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        guard let commit = ObjectID(hex: tip), let bytes = try repository.blob(at: path, commit: commit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Validation errors (and warnings) of the `.stepgate/` files among `files`, read at `commit`, as findings at
    /// their line.
    static func validate(mirror: MirrorConfiguration, commit: String, files: [String]) throws -> [ReviewFinding] {
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        guard let id = ObjectID(hex: commit) else { return [] }
        var findings: [ReviewFinding] = []
        for path in files.sorted() where path.hasPrefix(".stepgate/") {
            guard let bytes = try repository.blob(at: path, commit: id) else { continue }  // deleted
            guard let text = String(validating: bytes, as: UTF8.self) else {
                findings.append(ReviewFinding(path: path, line: nil, message: "the file is not UTF-8 text"))
                continue
            }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            var diagnostics: [Diagnostic] = []
            if name == "stepgate.yaml" || name == "stepgate.yml" {
                diagnostics = RepositoryConfigLoader.load(text, fileName: path).diagnostics
            } else if RepositoryConfigLoader.isWorkflowDefinition(path: path) {
                do {
                    let document = try YAMLLoader.parseDefinition(text, fileName: path)
                    diagnostics = DefinitionValidator.validate(document)
                } catch {
                    diagnostics = [error.diagnostic]
                }
            } else {
                continue
            }
            for d in diagnostics {
                findings.append(
                    ReviewFinding(
                        path: path, line: d.location?.line ?? 1, message: "\(d.severity.rawValue): \(d.message)",
                        severity: d.severity.rawValue))
            }
        }
        return findings
    }
}
