import Dispatch

/// Runs blocking work (file system calls, libpq, libcurl) off Swift's cooperative thread pool.
///
/// The cooperative pool has one thread per core; a blocked thread there stalls unrelated tasks.
/// Each call runs on a serial dispatch queue of its own. Such a queue targets libdispatch's
/// *overcommit* root queue, which starts a thread at once when none is idle. A shared concurrent
/// queue would not do: it targets the same width-limited root queue as Swift's global executor
/// on Linux, so two blocked calls on a 2-core machine starve every task until libdispatch's
/// monitor notices, up to about a second later (a backup's reader and WAL receiver did just
/// that: its chunk store stalled 0.6 s in every backup). Callers bound the parallelism
/// themselves (e.g. `--jobs`).
public enum BlockingIO {
    /// Runs `body` on a blocking-I/O thread and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "pgbackup.blocking-io").async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
