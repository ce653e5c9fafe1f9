import Foundation
import StatesLanguage

/// Renders an execution's history for people: one line per state with its duration and a
/// shortened input and output, nested states indented, the outcome first and last.
enum HistoryRenderer {
    static func render(_ result: ExecutionResult, executionName: String, wallTime: TimeInterval) -> String {
        var lines: [String] = []
        var open: [(name: String, start: Date, input: JSON?)] = []
        for event in result.history {
            let type = event.type.rawValue
            if type.hasSuffix("StateEntered"), let name = event.stateName {
                let kind = String(type.dropLast("StateEntered".count))
                lines.append(indent(open.count) + "▶ \(name) (\(kind))  in: \(short(event.input))")
                open.append((name, event.timestamp, event.input))
                if kind == "Fail" { open.removeLast() }
            } else if type.hasSuffix("StateExited"), let name = event.stateName {
                if let i = open.lastIndex(where: { $0.name == name }) {
                    let entry = open.remove(at: i)
                    let ms = Int(event.timestamp.timeIntervalSince(entry.start) * 1000)
                    lines.append(indent(open.count) + "✓ \(name)  \(ms) ms  out: \(short(event.output))")
                }
            } else if event.type == .taskFailed || event.type == .taskTimedOut {
                lines.append(indent(open.count) + "✗ \(event.stateName ?? "task"): \(event.error ?? "") \(event.cause ?? "")")
            } else if event.type == .mapIterationFailed {
                lines.append(indent(open.count) + "✗ iteration \(event.index ?? 0): \(event.error ?? "") \(event.cause ?? "")")
            }
        }
        let ms = Int(wallTime * 1000)
        var header = "execution \(executionName): \(result.status.rawValue) in \(ms) ms, \(result.transitions) transitions"
        switch result.status {
        case .succeeded:
            lines.append("output: \(result.output?.serialized ?? "null")")
        case .failed, .timedOut:
            header += "\n  error: \(result.error ?? "(none)")"
            if let cause = result.cause { header += "\n  cause: \(cause)" }
            if let failed = open.last { header += "\n  failed state: \(failed.name)" }
        }
        return ([header] + lines).joined(separator: "\n") + "\n"
    }

    private static func indent(_ depth: Int) -> String { String(repeating: "  ", count: depth + 1) }

    private static func short(_ value: JSON?, limit: Int = 80) -> String {
        guard let value else { return "-" }
        let s = value.serialized
        return s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }
}
