import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import Synchronization

/// The WAL a base backup needs to become consistent, streamed by the backup itself, as
/// `pg_basebackup -X stream` does, so that a lone `pgbackup backup` always yields a restorable
/// backup.
///
/// Before `BASE_BACKUP` starts, `open` creates a *temporary* physical slot on a connection of its
/// own: it holds the server's WAL from before the backup's checkpoint until this connection ends
/// (the server drops the slot then, however the process ends). Once the backup's start LSN is
/// known, `stream` reads WAL from the start of its segment into a transient spool and hands each
/// completed segment to a `WALUploader`; it returns when the repository holds the WAL up to the
/// backup's stop LSN. PostgreSQL switches to a new segment when a backup ends, so the stop
/// segment completes at once on a primary; should it not (a backup of a standby), the segment
/// is stored as a partial after `partialAfter`.
///
/// When the daemon streams too, both store the same segments: `WALArchive.storeSegment` finds
/// the identical copy and stores nothing twice.
///
/// The stream also reads the server's clock (the send times of its messages): it stores them with
/// each segment (`WALTimeRecorder`) and reports the backup's times as the server saw them
/// (`ServerTimes`).
final class BackupWALReceiver: Sendable {
    /// The server's clock at the backup's start and stop, read from the stream.
    struct ServerTimes: Sendable {
        /// The send time of the message that carried the WAL at the start LSN: at, or a moment
        /// after, the backup's start.
        var start: Date?
        /// The send time of the newest message once the WAL up to the stop LSN had arrived and
        /// the stop LSN was known: at, or shortly after, the backup's end — never before it, which
        /// is the safe side (a restore to a time uses a backup only from its stop time on).
        var stop: Date?
        /// When the WAL up to the stop LSN had arrived (by this process's clock).
        var stopReceivedAt: ContinuousClock.Instant?
    }

    private struct Window: Sendable {
        var start: (lsn: LSN, timeline: TimelineID)?
        var stop: LSN?
        var failure: (any Error)?
    }

    private let window = Mutex(Window())
    let slot: String
    let segmentSize: WALSegmentSize
    let logger: Logger
    /// Status updates go out at least this often, which keeps `wal_sender_timeout` away.
    let statusInterval: Duration = .seconds(10)
    let partialAfter: Duration = .seconds(10)

    init(slot: String, segmentSize: WALSegmentSize, logger: Logger) {
        self.slot = slot
        self.segmentSize = segmentSize
        self.logger = logger
    }

    /// A replication connection holding the temporary slot. Blocking.
    func open(conninfo: String, overriding: [String: String] = [:]) throws -> PostgresConnection {
        let connection = try PostgresConnection(conninfo: conninfo, replication: .physical, overriding: overriding)
        do {
            try connection.createPhysicalReplicationSlot(slot, reserveWAL: true, temporary: true)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// The backup started at `lsn` on `timeline`: WAL from there on is needed.
    func begin(at lsn: LSN, timeline: TimelineID) { window.withLock { $0.start = (lsn, timeline) } }
    /// The backup ended: WAL up to `lsn` is needed.
    func end(at lsn: LSN) { window.withLock { $0.stop = lsn } }
    /// Makes `stream` throw `error` at its next look (unless another failure came first).
    func fail(_ error: any Error) { window.withLock { if $0.failure == nil { $0.failure = error } } }
    func cancel() { fail(CancellationError()) }

    private func current() throws -> Window {
        let now = window.withLock { $0 }
        if let failure = now.failure { throw failure }
        return now
    }

    /// Waits for `begin`, streams until the repository holds the WAL up to `end`'s LSN, then
    /// ends the stream; returns the server's clock at the backup's start and stop. Blocking: run
    /// it on a thread of its own.
    func stream(
        connection: PostgresConnection, spool: WALSpool, progress: SharedProgress, queue: AsyncStream<UploadJob>.Continuation
    ) throws -> ServerTimes {
        var start = try current().start
        while start == nil {
            usleep(20_000)
            start = try current().start
        }
        let (startLSN, timeline) = start!
        let position = startLSN - segmentSize.offset(of: startLSN)
        progress.update { $0 = StreamProgress(start: position, archived: position) }
        let stream = ReplicationStream(connection: connection)
        try stream.start(slot: slot, at: position, timeline: timeline)
        logger.debug("streaming the backup's WAL", metadata: ["from": "\(position)", "timeline": "\(timeline)", "slot": "\(slot)"])

        let clock = ContinuousClock()
        var lastStatus = clock.now
        var stopReachedAt: ContinuousClock.Instant?
        var partialStored = false
        var times = WALTimeRecorder()
        var serverTimes = ServerTimes()
        while true {
            let window = try current()
            let state = progress.value
            if let stop = window.stop, state.received >= stop, serverTimes.stop == nil {
                serverTimes.stop = times.latest?.time
                serverTimes.stopReceivedAt = serverTimes.stopReceivedAt ?? clock.now
            }
            if let stop = window.stop, state.archived >= stop {
                break
            }
            // Once the stop LSN is known the loop waits for the uploader rather than the server:
            // look again soon, so that the backup does not idle after its WAL is stored.
            switch try stream.receive(timeout: window.stop == nil ? .milliseconds(100) : .milliseconds(5)) {
            case let .walData(data):
                let completed = try data.bytes.withUnsafeBytes { try spool.write($0, at: data.start, timeline: timeline) }
                progress.update { $0.didReceive(upTo: data.end) }
                times.observe(serverTime: data.serverTime, sentUpTo: data.end)
                if serverTimes.start == nil && data.end > startLSN { serverTimes.start = times.latest?.time }
                for segment in completed {
                    progress.update { $0.didSyncSpool(upTo: segment.endLSN) }
                    queue.yield(.segment(segment, path: spool.completedPath(segment), times: times.record(for: segment, upTo: segment.endLSN)))
                    times.completed(segment)
                }
            case let .keepalive(walEnd, serverTime, replyRequested):
                times.observe(serverTime: serverTime, sentUpTo: min(walEnd, progress.value.received))
                if replyRequested {
                    try sendStatus(stream, progress)
                    lastStatus = clock.now
                }
            case .endOfTimeline, .endOfStream:
                throw BackupError.walStreamEnded(at: progress.value.received, timeline: timeline)
            case nil:
                break
            }
            if clock.now - lastStatus >= statusInterval {
                try sendStatus(stream, progress)
                lastStatus = clock.now
            }
            // The stop segment did not complete (no segment switch, e.g. a standby's backup):
            // store what the backup needs of it as the partial segment.
            if let stop = window.stop, progress.value.received >= stop, !partialStored, let segment = spool.currentSegment {
                let reached = stopReachedAt ?? clock.now
                stopReachedAt = reached
                if clock.now - reached >= partialAfter {
                    try spool.sync()
                    progress.update { $0.didSyncSpool() }
                    let length = Int(progress.value.written - segment.startLSN)
                    queue.yield(.partial(
                        segment, path: spool.partialPath(segment), length: length, final: false,
                        times: times.record(for: segment, upTo: progress.value.written)))
                    partialStored = true
                }
            }
        }
        try sendStatus(stream, progress)
        try? stream.stop()
        return serverTimes
    }

    private func sendStatus(_ stream: ReplicationStream, _ progress: SharedProgress) throws {
        let status = progress.value.status
        try stream.sendStatus(write: status.write, flush: status.flush)
    }
}
