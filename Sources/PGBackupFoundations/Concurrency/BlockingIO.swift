import Dispatch

/// Runs blocking work (file system calls, libpq, libcurl) off Swift's cooperative thread pool.
///
/// The cooperative pool has one thread per core; a blocked thread there stalls unrelated tasks.
/// Work submitted here runs on a concurrent dispatch queue, whose threads libdispatch adds as
/// others block. Callers bound the parallelism themselves (e.g. `--jobs`), not this queue.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "pgbackup.blocking-io", attributes: .concurrent)

    /// Runs `body` on a blocking-I/O thread and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
