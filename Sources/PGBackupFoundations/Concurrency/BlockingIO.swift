import Dispatch

/// Runs blocking work (file system calls, libpq, libcurl) off Swift's cooperative thread pool.
///
/// Two kinds of blocking, two entry points:
/// - `run`, for calls that block briefly (a file read, write or fsync): a shared concurrent
///   queue. On Linux it targets the same width-limited root queue as Swift's global executor
///   (one thread per core), which keeps a restore's many short calls at the machine's width.
/// - `runLong`, for calls that may block for as long as the network or a server decides (a
///   replication stream, an HTTP request, a connection attempt, a child process): a serial queue
///   of its own, which targets libdispatch's *overcommit* root queue, where a thread starts at
///   once when none is idle. On the shared queue such calls, one per core, starve every task
///   until libdispatch's monitor adds a thread, up to about a second later: a backup's reader and
///   WAL receiver did just that on 2 cores, stalling its chunk store 0.6 s in every backup.
///
/// Callers bound the parallelism themselves (e.g. `--jobs`), not these queues.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "pgbackup.blocking-io", attributes: .concurrent)

    /// Runs `body`, which blocks briefly, on a blocking-I/O thread and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(body, on: queue)
    }

    /// Runs `body`, which may block for long, on a thread that no other work waits for, and
    /// returns its result.
    public static func runLong<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(body, on: DispatchQueue(label: "pgbackup.blocking-io.long"))
    }

    private static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T, on queue: DispatchQueue) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
