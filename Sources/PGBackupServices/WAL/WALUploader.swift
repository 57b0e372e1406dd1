import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import Synchronization

/// Progress shared by the receiver's thread and the uploader task.
final class SharedProgress: Sendable {
    private let state: Mutex<StreamProgress>

    init(_ progress: StreamProgress) { state = Mutex(progress) }

    func update<T: Sendable>(_ body: (inout StreamProgress) -> T) -> T {
        state.withLock { body(&$0) }
    }

    var value: StreamProgress { state.withLock { $0 } }
}

/// Work for the uploader, in stream order.
enum UploadJob: Sendable {
    /// A completed segment in the spool, with the server times the stream had for it.
    case segment(WALSegmentName, path: String, times: WALTimeRecord? = nil)
    /// The first `length` bytes of the segment being written; `final` when the spool file will
    /// not grow any more (end of a timeline) and goes once stored.
    case partial(WALSegmentName, path: String, length: Int, final: Bool, times: WALTimeRecord? = nil)
    /// A timeline history file, stored before any WAL of its timeline is reported as flushed.
    case history(TimelineID, content: [UInt8])
    /// A `.partial` spool file a previous run left (its WAL may have been acknowledged as
    /// *written*): stored unless the repository holds it already, then removed from the spool.
    case spoolTail(WALSegmentName, path: String, length: Int)
    /// WAL the server removed before the repository got it: recorded in the repository.
    case gap(WALGap)
}

/// Moves spooled WAL into the repository, one job at a time and in order, so the repository's
/// durable end only ever grows contiguously. A failed upload is retried with capped backoff,
/// never skipped: until it succeeds, *flush* does not move and the server keeps the WAL.
struct WALUploader: Sendable {
    let archive: WALArchive
    let progress: SharedProgress
    let logger: Logger
    var retryDelays: [Duration] = [.seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)]
    /// How many times a job is tried before `run` gives up and throws its error; nil: until it
    /// succeeds (the daemon: meanwhile *flush* stays put and the server keeps the WAL).
    var attempts: Int?
    /// Who offers the WAL, for the record of a file the archive keeps apart ("WAL stream from
    /// host:port"); read at each store, so it can name the server of the current session.
    var source: @Sendable () -> String = { "the daemon's WAL stream" }
    /// Called after a gap record is stored.
    var onGapRecorded: (@Sendable (WALGap) -> Void)?
    /// Called after WAL reached the repository: a segment (true) or a partial copy (false), with
    /// the server times the stream had for it.
    var onArchived: (@Sendable (Bool, WALTimeRecord?) -> Void)?

    func run(_ jobs: AsyncStream<UploadJob>) async throws {
        for await job in jobs {
            try await performRetrying(job)
        }
    }

    /// Performs `job`, retrying failures with capped backoff while `goOn()` says so. Returns
    /// false when it gave up because `goOn()` turned false; throws after `attempts` failures,
    /// and at once when its task is cancelled (the job's WAL stays in the spool for the next
    /// run: retrying a cancelled task would spin, since its sleeps return at once).
    @discardableResult
    func performRetrying(_ job: UploadJob, while goOn: () -> Bool = { true }) async throws -> Bool {
        var attempt = 0
        while true {
            do {
                try await perform(job)
                return true
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let delay = retryDelays[min(attempt, retryDelays.count - 1)]
                attempt += 1
                if let attempts, attempt >= attempts { throw error }
                guard goOn() else { return false }
                logger.error("unable to store WAL in the repository; retrying in \(delay)", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    private func perform(_ job: UploadJob) async throws {
        switch job {
        case let .segment(name, path, times):
            let outcome = try await archive.storeSegment(name, contentsOf: path, serverTimes: times, source: source())
            // A diverged segment leaves the archive's partial copy of that name as it is.
            if case .diverged = outcome {} else { try await archive.removePartial(name) }
            unlink(path)
            progress.update { $0.didArchive(upTo: name.endLSN) }
            onArchived?(true, times)
            switch outcome {
            case let .stored(key, size, storedSize, _):
                logger.info("archived WAL segment \(name.name)", metadata: ["object": "\(key)", "bytes": "\(size)", "stored": "\(storedSize)"])
            case .alreadyArchived:
                logger.info("WAL segment \(name.name) was already archived")
            case let .diverged(key, record):
                // Preserved apart, so handled: the stream goes on (`check` reports it).
                logger.error("WAL segment \(name.name) conflicts with the repository's WAL history and was kept apart: \(record.reason)", metadata: ["object": "\(key)"])
            }
        case let .partial(name, path, length, final, times):
            guard length > 0, !progress.value.holdsPartial(name, length: length) else {
                if final { unlink(path) }
                return
            }
            do {
                try await archive.storePartial(name, contentsOf: path, length: length, serverTimes: times)
            } catch where !FileManager.default.fileExists(atPath: path) {
                // The segment completed meanwhile; its own job stores it whole.
                return
            }
            if final { unlink(path) }
            progress.update {
                $0.didStorePartial(name, length: length)
                $0.didArchive(upTo: name.startLSN + UInt64(length))
            }
            onArchived?(false, times)
            logger.debug("stored partial WAL segment \(name.name)", metadata: ["bytes": "\(length)"])
        case let .spoolTail(name, path, length):
            if length > 0 {
                let outcome = try await archive.storeTail(name, contentsOf: path, length: length)
                progress.update {
                    $0.didStorePartial(name, length: length)
                    // The repository's durable end grows only contiguously.
                    if name.startLSN <= $0.archived { $0.didArchive(upTo: name.startLSN + UInt64(length)) }
                }
                logger.info(
                    outcome == .stored ? "stored the spool's tail \(name.name).partial" : "the repository already holds the spool's tail \(name.name).partial",
                    metadata: ["bytes": "\(length)"])
            }
            unlink(path)
        case .gap(var gap):
            if gap.archivedBefore == nil { gap.archivedBefore = try await archive.survey().serverTimes[gap.timeline]?.time }
            try await archive.recordGap(gap)
            logger.error("recorded \(gap) in the repository", metadata: ["object": "\(archive.layout.gapKey(gap))"])
            onGapRecorded?(gap)
        case let .history(timeline, content):
            if case let .diverged(key, record) = try await archive.storeHistory(timeline, content: content, source: source()) {
                logger.error("timeline history file \(timeline.hex).history conflicts with the archived one and was kept apart: \(record.reason)", metadata: ["object": "\(key)"])
            } else {
                logger.info("archived timeline history file \(timeline.hex).history")
            }
        }
    }
}
