/// When and how long a review client waits before trying a request again.
///
/// Retried: connection failures, read timeouts, 5xx, 429 (honouring `Retry-After`) and bodies that cannot be
/// decoded. Never retried: other 4xx and Conduit error envelopes. A request that changes state on the server
/// (a review, a comment, a Harbormaster message) is retried only when the server cannot have applied it:
/// a refused connection, 429 and 503.
///
/// The delay before attempt `n + 1` is chosen with *full jitter*: uniformly in
/// `0 ... min(maxDelay, baseDelay * 2^(n-1))`.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first one included; 1 disables retries.
    public var maxAttempts: Int
    /// The cap of the first backoff interval.
    public var baseDelay: Duration
    /// The cap of any backoff interval.
    public var maxDelay: Duration
    /// The longest `Retry-After` the client honours; a longer one is shortened to this.
    public var maxRetryAfter: Duration
    /// Waits between attempts; tests inject one that records and returns at once.
    public var sleep: @Sendable (Duration) async throws -> Void
    /// Returns a uniformly random number in `0 ... upperBound`; injectable for deterministic tests.
    public var random: @Sendable (Double) -> Double

    public init(
        maxAttempts: Int = 4,
        baseDelay: Duration = .milliseconds(250),
        maxDelay: Duration = .seconds(10),
        maxRetryAfter: Duration = .seconds(60),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        random: @escaping @Sendable (Double) -> Double = { $0 > 0 ? Double.random(in: 0...$0) : 0 }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
        self.sleep = sleep
        self.random = random
    }

    /// A policy that never retries.
    public static var none: RetryPolicy { RetryPolicy(maxAttempts: 1) }

    /// The jittered delay after the failed attempt number `attempt` (1-based).
    public func backoff(afterAttempt attempt: Int) -> Duration {
        let base = baseDelay.seconds
        let exponent = Double(min(max(attempt - 1, 0), 30))
        let cap = min(maxDelay.seconds, base * pow2(exponent))
        return .seconds(max(0, min(cap, random(cap))))
    }

    /// The delay to honour for a `Retry-After` of `value`, capped by ``maxRetryAfter``.
    func delay(retryAfter value: Duration) -> Duration {
        min(max(value, .zero), maxRetryAfter)
    }
}

private func pow2(_ exponent: Double) -> Double {
    var result = 1.0
    var n = Int(exponent)
    while n > 0 { result *= 2; n -= 1 }
    return result
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }

    var nanoseconds: Int64 {
        let (s, attoseconds) = components
        return s * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
