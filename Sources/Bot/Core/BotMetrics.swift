import Metrics

/// The bot's metrics (swift-metrics): counters and timers, labelled by server and outcome.
///
/// Names: `stepgate_bot_polls_total{server,result}`, `stepgate_bot_poll_duration{server}`,
/// `stepgate_bot_triggers_total{server}`, `stepgate_bot_executions_total{server,outcome}`,
/// `stepgate_bot_reports_total{server,result}`, `stepgate_bot_api_errors_total{server,kind}`,
/// `stepgate_bot_trigger_latency{server}` (vote seen → execution started).
struct BotMetrics: Sendable {
    func poll(server: String, ok: Bool) {
        Counter(label: "stepgate_bot_polls_total", dimensions: [("server", server), ("result", ok ? "ok" : "error")]).increment()
    }
    func pollDuration(server: String, nanoseconds: Int64) {
        Timer(label: "stepgate_bot_poll_duration", dimensions: [("server", server)]).recordNanoseconds(nanoseconds)
    }
    func trigger(server: String) {
        Counter(label: "stepgate_bot_triggers_total", dimensions: [("server", server)]).increment()
    }
    func execution(server: String, outcome: String) {
        Counter(label: "stepgate_bot_executions_total", dimensions: [("server", server), ("outcome", outcome)]).increment()
    }
    func report(server: String, result: String) {
        Counter(label: "stepgate_bot_reports_total", dimensions: [("server", server), ("result", result)]).increment()
    }
    func apiError(server: String, kind: String) {
        Counter(label: "stepgate_bot_api_errors_total", dimensions: [("server", server), ("kind", kind)]).increment()
    }
}
