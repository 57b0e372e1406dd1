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
/// The bookkeeping (positions, status updates, the stop partial, the server's clock) is
/// `WALReceiverStateMachine`'s, shared with the daemon; `stream` only drives it.
///
/// When the daemon streams too, both store the same segments: `WALArchive.storeSegment` finds
/// the identical copy and stores nothing twice.
///
/// The stream also reads the server's clock (the send times of its messages): it stores them with
/// each segment (`WALTimeRecorder`) and reports the backup's times as the server saw them
/// (`ServerTimes`).
final class BackupWALReceiver: Sendable {
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
    ) throws -> BackupServerTimes {
        var start = try current().start
        while start == nil {
            usleep(20_000)
            start = try current().start
        }
        let (startLSN, timeline) = start!
        let position = startLSN - segmentSize.offset(of: startLSN)
        var machine = WALReceiverStateMachine(
            .init(role: .backup(start: startLSN, partialAfter: partialAfter), segmentSize: segmentSize, statusInterval: statusInterval),
            progress: StreamProgress(start: position, archived: position))
        progress.update { $0 = machine.progress }
        let stream = ReplicationStream(connection: connection)
        try stream.start(slot: slot, at: position, timeline: timeline)
        logger.debug("streaming the backup's WAL", metadata: ["from": "\(position)", "timeline": "\(timeline)", "slot": "\(slot)"])

        // The driver of `WALReceiverStateMachine`: the backup's stop LSN once known, what the
        // repository holds, then a message (or nothing within the machine's poll timeout).
        let clock = ContinuousClock()
        let actions = WALReceiverActions(stream: stream, spool: spool, progress: progress, queue: queue)
        var ending = try actions.handle(.start(timeline: timeline, at: position, now: clock.now), &machine)
        while ending == nil {
            if let stop = try current().stop, machine.stopLSN == nil {
                ending = try actions.handle(.stopLSN(stop, now: clock.now), &machine)
            }
            if ending == nil {
                ending = try actions.handle(.archived(upTo: progress.value.archived), &machine)
            }
            if ending == nil {
                let message = try stream.receive(timeout: machine.pollTimeout)
                ending = try actions.handle(WALReceiverStateMachine.event(for: message, now: clock.now), &machine)
            }
        }
        if case let .streamEnded(at) = ending {
            throw BackupError.walStreamEnded(at: at, timeline: timeline)
        }
        return machine.serverTimes
    }
}
