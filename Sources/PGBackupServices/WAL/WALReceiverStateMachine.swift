import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

/// The bookkeeping of a WAL receiver, written once for the daemon (`WALStreamer`) and the
/// backup (`BackupWALReceiver`): events in (a message from the server, the clock, the spool's
/// fsync done, the repository's durable end), actions out (write, fsync, queue for the
/// repository, send a status update, stop). The drivers read the `ReplicationStream`, feed
/// events and perform the actions in order; this value does no I/O, reads no clock and holds no
/// lock, so tests drive it as transcripts.
///
/// It keeps DESIGN.md's invariant 1 through `StreamProgress`: *write* moves only when the driver
/// acknowledges an fsync (`.spoolSynced`, or a segment the spool completed, which it fsyncs), and
/// *flush* only when the repository acknowledges (`.archived`).
///
/// One stream at a time: `.start` begins one (a connection, a timeline switch); the driver
/// performs `.syncSpool` and `.closeSpoolSegment` and answers each with `.spoolSynced` before
/// anything else, because what follows (a partial copy, a status update) depends on it.
struct WALReceiverStateMachine: Sendable {
    /// What the receiver is for.
    enum Role: Sendable, Equatable {
        /// The daemon: follows timeline switches; stores the segment being written every
        /// `partialUploadInterval` (and when the stream goes quiet); stops on `.stopRequested`.
        case daemon(partialUploadInterval: Duration?)
        /// A base backup's WAL, needed from `start` (the backup's start LSN) to the stop LSN
        /// (`.stopLSN`); a stop segment that does not complete is stored as a partial after
        /// `partialAfter`. A timeline switch or the end of the stream ends it with an error.
        case backup(start: LSN, partialAfter: Duration)
    }

    struct Configuration: Sendable, Equatable {
        var role: Role
        var segmentSize: WALSegmentSize
        /// Status updates go out at least this often, which keeps `wal_sender_timeout` away.
        var statusInterval: Duration = .seconds(10)
        /// Reports *write* after every fsync of the spool (`synchronous_commit = remote_write`).
        var synchronous = false
        /// How long a graceful stop waits for the repository before its last status update.
        var finishTimeout: Duration = .seconds(60)
    }

    enum Event: Sendable {
        /// The driver (re)starts replication at `lsn` (a segment boundary) on `timeline`.
        case start(timeline: TimelineID, at: LSN, now: ContinuousClock.Instant)
        case walData(XLogData, now: ContinuousClock.Instant)
        case keepalive(walEnd: LSN, serverTime: Date, replyRequested: Bool, now: ContinuousClock.Instant)
        /// No message came within `pollTimeout`.
        case tick(now: ContinuousClock.Instant)
        /// The `.syncSpool` or `.closeSpoolSegment` just asked for is done.
        case spoolSynced
        /// The repository durably holds the WAL up to `lsn` (the uploader's acknowledgement).
        case archived(upTo: LSN)
        /// The backup ended at `lsn`: the WAL up to it is needed.
        case stopLSN(LSN, now: ContinuousClock.Instant)
        /// WAL the server removed before the repository got it, to be recorded at the next
        /// message of the server (stamped with its clock).
        case gapFound(WALGap)
        /// The daemon is asked to stop, or a newer primary appeared: finish gracefully.
        case stopRequested(now: ContinuousClock.Instant)
        case endOfTimeline(next: TimelineID, start: LSN)
        case endOfStream
    }

    enum Action: Sendable, Equatable {
        /// Write the message's WAL into the spool on `timeline` (it completes the segments the
        /// `.queueSegment` actions that follow name: the spool fsyncs and renames them).
        case write(XLogData, timeline: TimelineID)
        /// fsync the spool's segment being written, then answer `.spoolSynced`.
        case syncSpool
        /// fsync and close the spool's segment being written (it stays partial: the timeline
        /// ended), then answer `.spoolSynced`.
        case closeSpoolSegment
        case queueSegment(WALSegmentName, times: WALTimeRecord?)
        /// Store the first `length` bytes of `segment`; `final` when the spool file will not grow.
        case queuePartial(WALSegmentName, length: Int, final: Bool, times: WALTimeRecord?)
        case queueGap(WALGap)
        case sendStatus(write: LSN, flush: LSN)
        /// The timeline ended: fetch `next`'s history and `.start` again from `start`'s segment.
        case switchTimeline(next: TimelineID, start: LSN)
        /// The server ended the stream at `at` (received) and the receiver cannot go on.
        case streamEnded(at: LSN)
        /// Done: end the stream (the last status update went out just before).
        case stop
    }

    private enum Phase: Sendable, Equatable {
        case streaming
        /// A graceful stop: waiting until the repository holds `until`, or `deadline`.
        case finishing(until: LSN, deadline: ContinuousClock.Instant)
        case done
    }

    /// What to do once the fsync asked for is acknowledged.
    private enum AfterSync: Sendable, Equatable {
        case message(now: ContinuousClock.Instant, quiet: Bool, replyRequested: Bool)
        case finish(now: ContinuousClock.Instant)
        case timelineEnded(WALSegmentName, next: TimelineID, start: LSN)
    }

    let configuration: Configuration
    /// The stream's positions; `archived` is fed by `.archived`.
    private(set) var progress: StreamProgress
    private(set) var timeline = TimelineID(1)
    /// The server's clock at the backup's start and stop (the backup's role only).
    private(set) var serverTimes = BackupServerTimes()
    private(set) var stopLSN: LSN?
    private var phase = Phase.streaming
    private var afterSync: AfterSync?
    private var times = WALTimeRecorder()
    private var pendingGap: WALGap?
    private var reported: (write: LSN, flush: LSN)?
    private var lastStatusTime: ContinuousClock.Instant?
    private var lastPartialTime: ContinuousClock.Instant?
    private var lastPartialEnd = LSN.zero
    private var stopPartialStored = false

    init(_ configuration: Configuration, progress: StreamProgress) {
        self.configuration = configuration
        self.progress = progress
    }

    /// True once `.stop` was returned.
    var isDone: Bool { phase == .done }

    /// True while a graceful stop waits for the repository: the driver stops reading the stream
    /// and feeds `.archived` and `.tick`.
    var isFinishing: Bool {
        if case .finishing = phase { return true }
        return false
    }

    /// How long the driver's next read may wait for a message: not at all while received WAL
    /// awaits its fsync (drain the socket first), briefly once the backup waits for its stop LSN's
    /// WAL to be stored.
    var pollTimeout: Duration {
        if progress.received > progress.written { return .zero }
        return stopLSN == nil ? .milliseconds(100) : .milliseconds(5)
    }

    /// The segment the spool is writing: the one holding the last WAL this stream received,
    /// unless that WAL completed it.
    var currentSegment: WALSegmentName? {
        guard progress.received > progress.streamStart, !configuration.segmentSize.isSegmentBoundary(progress.received) else { return nil }
        return WALSegmentName(timeline: timeline, containing: progress.received, segmentSize: configuration.segmentSize)
    }

    /// The event for what `ReplicationStream.receive` returned (nil: nothing within the timeout).
    static func event(for message: ReplicationEvent?, now: ContinuousClock.Instant) -> Event {
        switch message {
        case let .walData(data): .walData(data, now: now)
        case let .keepalive(walEnd, serverTime, replyRequested): .keepalive(walEnd: walEnd, serverTime: serverTime, replyRequested: replyRequested, now: now)
        case let .endOfTimeline(next, start): .endOfTimeline(next: next, start: start)
        case .endOfStream: .endOfStream
        case nil: .tick(now: now)
        }
    }

    mutating func handle(_ event: Event) -> [Action] {
        guard phase != .done else { return [] }
        switch event {
        case let .start(timeline, lsn, now):
            self.timeline = timeline
            progress.restart(at: lsn)
            phase = .streaming
            afterSync = nil
            times = WALTimeRecorder()
            reported = nil
            lastStatusTime = now - configuration.statusInterval  // the first status goes out at once
            lastPartialTime = now
            lastPartialEnd = .zero
            return []
        case let .walData(data, now):
            guard phase == .streaming else { return [] }
            return received(data, now: now)
        case let .keepalive(walEnd, serverTime, replyRequested, now):
            guard phase == .streaming else { return [] }
            times.observe(serverTime: serverTime, sentUpTo: min(walEnd, progress.received))
            return recordGap(at: serverTime) + afterMessage(now: now, quiet: false, replyRequested: replyRequested)
        case let .tick(now):
            switch phase {
            case .streaming: return afterMessage(now: now, quiet: progress.received <= progress.written, replyRequested: false)
            case let .finishing(_, deadline): return now >= deadline ? finalStatus() : []
            case .done: return []
            }
        case .spoolSynced:
            progress.didSyncSpool()
            guard let next = afterSync else { return [] }
            afterSync = nil
            switch next {
            case let .message(now, quiet, replyRequested): return partialsAndStatus(now: now, quiet: quiet, replyRequested: replyRequested)
            case let .finish(now): return finishAfterSync(now: now)
            case let .timelineEnded(segment, next, start):
                let length = Int(progress.written - segment.startLSN)
                return [.queuePartial(segment, length: length, final: true, times: nil), .switchTimeline(next: next, start: start)]
            }
        case let .archived(lsn):
            progress.didArchive(upTo: lsn)
            return checkDone()
        case let .stopLSN(lsn, now):
            stopLSN = lsn
            noteStopReached(now: now)
            return checkDone()
        case let .gapFound(gap):
            pendingGap = gap
            return []
        case let .stopRequested(now):
            guard phase == .streaming, case .daemon = configuration.role else { return [] }
            return syncThen(.finish(now: now))
        case let .endOfTimeline(next, start):
            guard phase == .streaming else { return [] }
            guard case .daemon = configuration.role else { return ended() }
            // The old timeline's last segment stays partial: store it as such.
            guard let segment = currentSegment else { return [.switchTimeline(next: next, start: start)] }
            afterSync = .timelineEnded(segment, next: next, start: start)
            return [.closeSpoolSegment]
        case .endOfStream:
            guard phase == .streaming else { return [] }
            return ended()
        }
    }

    // MARK: messages

    private mutating func received(_ data: XLogData, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = [.write(data, timeline: timeline)]
        progress.didReceive(upTo: data.end)
        times.observe(serverTime: data.serverTime, sentUpTo: data.end)
        if case let .backup(start, _) = configuration.role, serverTimes.start == nil, data.end > start {
            serverTimes.start = times.latest?.time
        }
        actions += recordGap(at: data.serverTime)
        for segment in segmentsCompleted(from: data.start, to: data.end) {
            progress.didSyncSpool(upTo: segment.endLSN)  // the spool fsyncs a segment it completes
            actions.append(.queueSegment(segment, times: times.record(for: segment, upTo: segment.endLSN)))
            times.completed(segment)
        }
        noteStopReached(now: now)
        return actions  // no fsync yet: the driver drains what the socket already holds first
    }

    /// The segments whose last byte lies in `start..<end`.
    private func segmentsCompleted(from start: LSN, to end: LSN) -> [WALSegmentName] {
        let size = configuration.segmentSize
        var segment = WALSegmentName(timeline: timeline, containing: start, segmentSize: size)
        var completed: [WALSegmentName] = []
        while segment.endLSN <= end, segment.endLSN > start {
            completed.append(segment)
            guard let next = segment.next else { break }
            segment = next
        }
        return completed
    }

    private mutating func recordGap(at serverTime: Date) -> [Action] {
        guard var gap = pendingGap else { return [] }
        gap.detectedAt = serverTime
        pendingGap = nil
        return [.queueGap(gap)]
    }

    /// After a keepalive or a quiet socket: fsync what was received, then store partial copies
    /// and report positions.
    private mutating func afterMessage(now: ContinuousClock.Instant, quiet: Bool, replyRequested: Bool) -> [Action] {
        syncThen(.message(now: now, quiet: quiet, replyRequested: replyRequested))
    }

    private mutating func syncThen(_ next: AfterSync) -> [Action] {
        if progress.received > progress.written {
            afterSync = next
            return [.syncSpool]
        }
        switch next {
        case let .message(now, quiet, replyRequested): return partialsAndStatus(now: now, quiet: quiet, replyRequested: replyRequested)
        case let .finish(now): return finishAfterSync(now: now)
        case .timelineEnded: return []  // not reached: a timeline's end always closes the segment
        }
    }

    private mutating func partialsAndStatus(now: ContinuousClock.Instant, quiet: Bool, replyRequested: Bool) -> [Action] {
        var actions: [Action] = []
        switch configuration.role {
        case let .daemon(interval?): actions += periodicPartial(now: now, interval: interval, quiet: quiet)
        case .daemon(nil): break
        case let .backup(_, partialAfter): actions += stopPartial(now: now, after: partialAfter)
        }
        return actions + status(now: now, force: replyRequested)
    }

    /// The segment being written goes to the repository every `interval`, and also once the
    /// stream has been quiet for a poll (at most once a second), so that after a burst the
    /// repository — and *flush* — catch up in about one upload.
    private mutating func periodicPartial(now: ContinuousClock.Instant, interval: Duration, quiet: Bool) -> [Action] {
        let since = now - (lastPartialTime ?? now)
        guard let segment = currentSegment, since >= interval || (quiet && since >= min(interval, .seconds(1))) else { return [] }
        let written = progress.written
        if written > max(segment.startLSN, lastPartialEnd) {
            lastPartialEnd = written
            lastPartialTime = now
            return [.queuePartial(segment, length: Int(written - segment.startLSN), final: false, times: times.record(for: segment, upTo: written))]
        }
        if since >= interval { lastPartialTime = now }
        return []
    }

    /// The stop segment did not complete (no segment switch, e.g. a standby's backup): store
    /// what the backup needs of it as the partial segment.
    private mutating func stopPartial(now: ContinuousClock.Instant, after: Duration) -> [Action] {
        guard let stop = stopLSN, progress.received >= stop, !stopPartialStored, let segment = currentSegment,
              let reached = serverTimes.stopReceivedAt, now - reached >= after else { return [] }
        stopPartialStored = true
        let written = progress.written
        return [.queuePartial(segment, length: Int(written - segment.startLSN), final: false, times: times.record(for: segment, upTo: written))]
    }

    /// A status update when the server asked, when `statusInterval` has passed, when *flush*
    /// moved, and in synchronous mode when *write* moved.
    private mutating func status(now: ContinuousClock.Instant, force: Bool) -> [Action] {
        let status = progress.status
        let changed = reported.map { $0.write != status.write || $0.flush != status.flush } ?? true
        let flushMoved = reported.map { $0.flush != status.flush } ?? true
        let due = lastStatusTime.map { now - $0 >= configuration.statusInterval } ?? true
        guard force || due || flushMoved || (configuration.synchronous && changed) else { return [] }
        reported = status
        lastStatusTime = now
        return [.sendStatus(write: status.write, flush: status.flush)]
    }

    // MARK: ending

    /// The backup's clock readings once the WAL up to its stop LSN has arrived.
    private mutating func noteStopReached(now: ContinuousClock.Instant) {
        guard case .backup = configuration.role, let stop = stopLSN, progress.received >= stop, serverTimes.stop == nil else { return }
        serverTimes.stop = times.latest?.time
        serverTimes.stopReceivedAt = serverTimes.stopReceivedAt ?? now
    }

    /// The daemon's graceful stop, the spool fsync'd: store the partial segment, then wait
    /// (bounded) for the repository to hold everything written before the last status update.
    private mutating func finishAfterSync(now: ContinuousClock.Instant) -> [Action] {
        let written = progress.written
        var actions: [Action] = []
        if let segment = currentSegment, written > segment.startLSN {
            actions.append(.queuePartial(
                segment, length: Int(written - segment.startLSN), final: false, times: times.record(for: segment, upTo: written)))
        }
        phase = .finishing(until: written, deadline: now + configuration.finishTimeout)
        return actions + checkDone()
    }

    /// The end of a graceful stop (the daemon's) or of the backup's WAL, once the repository
    /// holds what they wait for.
    private mutating func checkDone() -> [Action] {
        switch phase {
        case let .finishing(until, _) where progress.archived >= until:
            return finalStatus()
        case .streaming where afterSync == nil:
            guard case .backup = configuration.role, let stop = stopLSN, progress.archived >= stop else { return [] }
            return finalStatus()
        default:
            return []
        }
    }

    private mutating func finalStatus() -> [Action] {
        phase = .done
        let status = progress.status
        return [.sendStatus(write: status.write, flush: status.flush), .stop]
    }

    private mutating func ended() -> [Action] {
        phase = .done
        return [.streamEnded(at: progress.received)]
    }
}
