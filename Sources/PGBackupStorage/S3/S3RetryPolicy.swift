/// When and how long to wait before trying an S3 request again.
///
/// Retried: throttling (503 SlowDown, 429), server errors (500, 502, 503, 504, S3's
/// `InternalError` and `RequestTimeout`), and transport failures (refused or reset connections,
/// timeouts, stalls, truncated responses). Never retried: any other 4xx — bad credentials, a
/// missing bucket, a denied action — which fail at once with the server's reason.
///
/// The wait before attempt `n + 1` is drawn uniformly from the upper half of
/// `min(maximumDelay, initialDelay × 2ⁿ⁻¹)` ("equal jitter"): exponential, capped, and spread so
/// that many clients throttled at once do not come back in step.
public struct S3RetryPolicy: Sendable {
    /// Attempts in all, the first included; 1 turns retries off.
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maximumDelay: Duration

    public init(maxAttempts: Int = 6, initialDelay: Duration = .milliseconds(200), maximumDelay: Duration = .seconds(10)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The wait after failed attempt number `attempt` (1-based).
    func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let exponent = min(attempt - 1, 30)
        let ceiling = min(maximumDelay, initialDelay * (1 << exponent))
        let nanoseconds = max(Int64(1), ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000)
        return .nanoseconds(nanoseconds / 2 + Int64.random(in: 0...(nanoseconds - nanoseconds / 2), using: &generator))
    }

    /// Whether an HTTP answer is worth another attempt: throttling and server-side failures.
    static func isRetryable(status: Int, code: String?) -> Bool {
        switch status {
        case 429, 500, 502, 503, 504: return true
        case 400: return code == "RequestTimeout"
        default: return code == "SlowDown" || code == "InternalError"
        }
    }
}
