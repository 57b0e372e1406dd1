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

    func run(_ jobs: AsyncStream<UploadJob>) async throws {
        for await job in jobs {
            var attempt = 0
            while true {
                do {
                    try await perform(job)
                    break
                } catch {
                    let delay = retryDelays[min(attempt, retryDelays.count - 1)]
                    attempt += 1
                    if let attempts, attempt >= attempts { throw error }
                    logger.error("unable to store WAL in the repository; retrying in \(delay)", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: delay)
                }
            }
        }
    }

    private func perform(_ job: UploadJob) async throws {
        switch job {
        case let .segment(name, path, times):
            let outcome = try await archive.storeSegment(name, contentsOf: path, serverTimes: times)
            try await archive.removePartial(name)
            unlink(path)
            progress.update { $0.didArchive(upTo: name.endLSN) }
            switch outcome {
            case let .stored(key, size, storedSize, _):
                logger.info("archived WAL segment \(name.name)", metadata: ["object": "\(key)", "bytes": "\(size)", "stored": "\(storedSize)"])
            case .alreadyArchived:
                logger.info("WAL segment \(name.name) was already archived")
            }
        case let .partial(name, path, length, final, times):
            guard length > 0 else { return }
            do {
                try await archive.storePartial(name, contentsOf: path, length: length, serverTimes: times)
            } catch where !FileManager.default.fileExists(atPath: path) {
                // The segment completed meanwhile; its own job stores it whole.
                return
            }
            if final { unlink(path) }
            progress.update { $0.didArchive(upTo: name.startLSN + UInt64(length)) }
            logger.debug("stored partial WAL segment \(name.name)", metadata: ["bytes": "\(length)"])
        case let .history(timeline, content):
            try await archive.storeHistory(timeline, content: content)
            logger.info("archived timeline history file \(timeline.hex).history")
        }
    }
}
