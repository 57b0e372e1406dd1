import Dispatch
import PGBackupFoundations
import PGBackupRepository
import Synchronization

/// Stores the chunks an `ArchiveSplitter` cuts, `jobs` at a time, while the splitter's thread
/// goes on reading the backup stream: the sequential read and the parallel compression overlap.
///
/// Memory is bounded by `buffers` chunk buffers: `reserve()` (on the splitter's thread) blocks
/// until a stored chunk gives its buffer back. The first failure wins: `reserve` and `submit`
/// throw it from then on, and `run` throws it.
final class ChunkUploadPool: ChunkSink, Sendable {
    let chunkStore: ChunkStore
    let jobs: Int
    /// Chunk buffers alive at once: those being stored, one queued, the one being filled and
    /// the open pack.
    let buffers: Int

    private let permits: DispatchSemaphore
    private let queue: AsyncStream<ChunkJob>
    private let continuation: AsyncStream<ChunkJob>.Continuation
    private let failure = Mutex<(any Error)?>(nil)
    private let storing = Mutex<Duration>(.zero)

    /// Time spent storing chunks so far, summed over the jobs.
    var busy: Duration { storing.withLock { $0 } }

    init(chunkStore: ChunkStore, jobs: Int) {
        self.chunkStore = chunkStore
        self.jobs = max(1, jobs)
        self.buffers = self.jobs + 3
        self.permits = DispatchSemaphore(value: buffers)
        (queue, continuation) = AsyncStream.makeStream(of: ChunkJob.self)
    }

    // MARK: the splitter's side (a blocking thread)

    func reserve() throws {
        try checkFailure()
        permits.wait()
        do {
            try checkFailure()
        } catch {
            permits.signal()
            throw error
        }
    }

    func submit(_ job: ChunkJob) throws {
        try checkFailure()
        continuation.yield(job)
    }

    /// No more jobs: `run` returns once the submitted ones are stored.
    func finishSubmitting() {
        continuation.finish()
    }

    /// Makes `reserve`/`submit` throw `error` (unless a failure came first) and wakes a
    /// splitter waiting for a buffer.
    func fail(_ error: any Error) {
        failure.withLock { current in
            if current == nil { current = error }
        }
        continuation.finish()
        // Enough permits that a waiting `reserve` wakes and sees the failure.
        for _ in 0..<buffers { permits.signal() }
    }

    private func checkFailure() throws {
        if let error = failure.withLock({ $0 }) { throw error }
    }

    // MARK: the storing side

    /// Stores the submitted chunks, `jobs` at a time, until `finishSubmitting` (or a failure);
    /// returns what the chunk store said of each job.
    func run() async throws -> [Int: ChunkRef] {
        do {
            return try await withThrowingTaskGroup(of: (Int, ChunkRef).self) { group in
                var stored: [Int: ChunkRef] = [:]
                var running = 0
                for await job in queue {
                    if running == jobs, let (id, ref) = try await group.next() {
                        stored[id] = ref
                        running -= 1
                    }
                    group.addTask { [chunkStore, permits] in
                        defer { permits.signal() }
                        let started = ContinuousClock.now
                        defer { self.storing.withLock { $0 += ContinuousClock.now - started } }
                        return (job.id, try await chunkStore.store(job.bytes))
                    }
                    running += 1
                }
                try Task.checkCancellation()
                for try await (id, ref) in group { stored[id] = ref }
                try checkFailure()
                return stored
            }
        } catch {
            fail(error)
            throw failure.withLock { $0 } ?? error
        }
    }
}
