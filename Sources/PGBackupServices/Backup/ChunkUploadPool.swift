import Dispatch
import PGBackupFoundations
import PGBackupRepository
import Synchronization

/// Stores the chunks an `ArchiveSplitter` cuts, `jobs` at a time, while the splitter's thread
/// goes on reading the backup stream: the sequential read and the parallel compression overlap.
///
/// Memory is bounded by `buffers` chunk buffers: `reserve(capacity:)` (on the splitter's thread)
/// blocks until a stored chunk gives its buffer back, and hands out that buffer again
/// (`ChunkBuffers`). The first failure wins: `reserve` and `submit` throw it from then on, and
/// `run` throws it.
final class ChunkUploadPool: ChunkSink, Sendable {
    let chunkStore: ChunkStore
    let jobs: Int
    /// Chunk buffers alive at once: by default those being stored, the one being filled and
    /// the open pack. (One more, queued, made no stream faster: the reader waits for the jobs
    /// either way.)
    let buffers: Int
    /// The buffers themselves, recycled.
    let chunkBuffers = ChunkBuffers()

    /// A submitted chunk; its buffer in a box the storing task empties, so that the recycled
    /// buffer is referenced by nothing else.
    private struct Queued: Sendable {
        let id: Int
        let bytes: Handover<[UInt8]>
    }

    private let permits: DispatchSemaphore
    private let queue: AsyncStream<Queued>
    private let continuation: AsyncStream<Queued>.Continuation
    private let failure = Mutex<(any Error)?>(nil)
    private let storing = Mutex<Duration>(.zero)

    /// Time spent storing chunks so far, summed over the jobs.
    var busy: Duration { storing.withLock { $0 } }

    /// `buffers`: at least 2 (a chunk and the pack); default `jobs + 2`.
    init(chunkStore: ChunkStore, jobs: Int, buffers: Int? = nil) {
        self.chunkStore = chunkStore
        self.jobs = max(1, jobs)
        self.buffers = max(2, buffers ?? self.jobs + 2)
        self.permits = DispatchSemaphore(value: self.buffers)
        (queue, continuation) = AsyncStream.makeStream(of: Queued.self)
    }

    // MARK: the splitter's side (a blocking thread)

    func reserve(capacity: Int) throws -> [UInt8] {
        try checkFailure()
        permits.wait()
        do {
            try checkFailure()
        } catch {
            permits.signal()
            throw error
        }
        return chunkBuffers.take(capacity: capacity)
    }

    func submit(_ job: ChunkJob) throws {
        try checkFailure()
        continuation.yield(Queued(id: job.id, bytes: Handover(job.bytes)))
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
                    group.addTask { [chunkStore, permits, chunkBuffers] in
                        defer { permits.signal() }
                        let started = ContinuousClock.now
                        defer { self.storing.withLock { $0 += ContinuousClock.now - started } }
                        var bytes = job.bytes.take()
                        let ref: ChunkRef
                        do {
                            ref = try await chunkStore.store(bytes ?? [])
                        } catch {
                            chunkBuffers.forget()
                            throw error
                        }
                        chunkBuffers.recycle(bytes.take() ?? [])
                        return (job.id, ref)
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
