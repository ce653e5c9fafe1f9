public import Logging
public import ServiceLifecycle

/// The polling bot as a swift-service-lifecycle `Service`.
///
/// `run()` owns all the work, in one task group: a poll loop per server (poll, then sleep the server's
/// `poll-interval`; the sleep ends at once on graceful shutdown) and one runner that runs the executions the loops
/// claimed, each in a child task. On SIGTERM/SIGINT (through `ServiceGroup`) the loops finish their current step and
/// stop, and the executions in progress are stopped where they are: their task processes are ended, nothing of the
/// interrupted step is recorded, and they stay RUNNING in the store at their last checkpoint (never FAILED), to be
/// resumed by the next start, as AWS does not lose a running execution. A post interrupted on its way is looked for on
/// the server before it is made again. A harder stop (SIGKILL) leaves the same state behind.
public struct BotService: Service {
    public let engine: BotEngine
    let logger: Logger

    public init(engine: BotEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    public func run() async throws {
        let (work, continuation) = AsyncStream.makeStream(of: String.self)
        // Executions an earlier process left unfinished.
        for id in (try? await engine.unfinishedWork()) ?? [] { continuation.yield(id) }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withDiscardingTaskGroup { runners in
                    for await id in work {
                        runners.addTask { await engine.run(executionID: id) }
                    }
                }
                return false
            }
            group.addTask {
                await withDiscardingTaskGroup { loops in
                    for platform in engine.platforms {
                        loops.addTask { await pollLoop(platform, continuation: continuation) }
                    }
                }
                continuation.finish()
                return true
            }
            // The loops end on shutdown: the executions still running are stopped (they stay RUNNING).
            for await loopsEnded in group where loopsEnded {
                logger.info("stopping the executions in progress; they are resumed by the next start")
                group.cancelAll()
            }
        }
        logger.info("bot stopped")
    }

    func pollLoop(_ platform: any ReviewPlatform, continuation: AsyncStream<String>.Continuation) async {
        var logger = self.logger
        logger[metadataKey: "server"] = "\(platform.server)"
        logger.info("polling", metadata: ["interval": "\(platform.pollInterval)"])
        let clock = ContinuousClock()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let began = clock.now
            var summary = CycleSummary()
            do {
                for id in try await engine.poll(platform, summary: &summary) { continuation.yield(id) }
                for id in try await engine.unfinishedWork() { continuation.yield(id) }
            } catch {
                logger.error("poll failed; retrying after the poll interval", metadata: ["error": "\(error)"])
            }
            do {
                // Fixed rate: a slow poll eats into the interval instead of adding to it.
                let rest = platform.pollInterval - (clock.now - began)
                if rest > .zero { try await cancelWhenGracefulShutdown { try await Task.sleep(for: rest) } }
            } catch {
                break
            }
        }
    }
}
