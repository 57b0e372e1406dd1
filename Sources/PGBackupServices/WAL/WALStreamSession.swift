import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

extension WALStreamer {
    /// One connection's life, on a blocking thread: connect, check the cluster, make sure of the
    /// slot, stream (following timeline switches) until a stop request or an error.
    func stream(
        _ plan: SessionPlan, spool box: SendableBox<WALSpool>, progress: SharedProgress,
        queue: AsyncStream<UploadJob>.Continuation
    ) throws {
        let spool = box.value
        defer { live.withLock { $0.streaming = false } }
        // The chosen server only, asked again on this very connection: the survey's answer may
        // be stale (a promotion or a failover in between).
        let connection = try PrimaryLocator.connect(plan.server, conninfo: plan.conninfo, environment: plan.environment)
        defer { connection.close() }
        let status = try ServerStatus.read(connection, server: plan.server)
        guard status.isPrimary, status.identity?.systemIdentifier == plan.info.systemIdentifier else {
            throw NotAPrimaryError(status: status, systemIdentifier: plan.info.systemIdentifier)
        }
        let cluster = try ClusterIdentity.read(from: connection)
        try plan.info.check(
            belongsTo: cluster.systemIdentifier, walSegmentSize: cluster.walSegmentSize, location: plan.location,
            versionNumber: cluster.versionNumber, host: "\(plan.server)")

        // The server's history, and every history file of its path the repository lacks, stored
        // (queued ahead of any WAL of this session) before streaming.
        let history = try serverHistory(connection, timeline: cluster.timeline)
        for missing in SessionPlan.missingHistories(path: history.path, held: plan.heldHistories) {
            queue.yield(.history(missing, content: try connection.timelineHistory(missing).content))
        }

        var slot = try connection.readReplicationSlot(plan.slot)
        // A slot the server invalidated keeps no WAL (and on 18 cannot be streamed from): it is
        // dropped and made anew, and the stream resumes from the repository's end as usual —
        // the WAL the server removed meanwhile is recorded as a gap below (58P01).
        var invalidation: WALGap.SlotInvalidationRecord?
        if slot != nil, let state = slotState(plan), let found = state.invalidation {
            invalidation = try replaceInvalidatedSlot(connection, plan: plan, found, inactiveSince: state.inactiveSince)
            slot = nil
        }
        if slot == nil {
            if try connection.createPhysicalReplicationSlot(plan.slot, reserveWAL: true) == .created {
                logger.info("created physical replication slot '\(plan.slot)'", metadata: ["server": "\(plan.server)"])
            }
            slot = try connection.readReplicationSlot(plan.slot)
        }
        var slotRestart = slot?.restart
        let start = SessionPlan.start(
            archiveEnds: plan.archiveEnds, history: history, slot: slotRestart,
            server: (cluster.timeline, cluster.walPosition), segmentSize: plan.segmentSize)
        var (timeline, position) = (start.timeline, start.lsn)

        let stream = ReplicationStream(connection: connection)
        var resumingFromArchive = start.fromArchive
        var machine = WALReceiverStateMachine(
            .init(
                role: .daemon(partialUploadInterval: options.partialUploadInterval), segmentSize: plan.segmentSize,
                statusInterval: options.statusInterval, synchronous: options.synchronous, finishTimeout: options.finishTimeout),
            progress: progress.value)
        while true {
            _ = machine.handle(.start(timeline: timeline, at: position, now: .now))
            progress.update { $0.takeStream(of: machine.progress) }
            spooledTimeline.withLock { $0 = timeline }
            let outcome: ReceiveOutcome
            do {
                try stream.start(slot: plan.slot, at: position, timeline: timeline)
                live.withLock { [timeline] in
                    $0.streaming = true
                    $0.timeline = timeline
                }
                logger.info("streaming WAL", metadata: [
                    "server": "\(plan.server)", "from": "\(position)", "timeline": "\(timeline)", "slot": "\(plan.slot)",
                ])
                outcome = try receive(stream, machine: &machine, spool: spool, progress: progress, queue: queue)
            } catch let error as ReplicationError where invalidation == nil && error.invalidatedSlot != nil {
                // The server refused the slot as invalidated (18+), and the survey of
                // pg_replication_slots did not tell (no ordinary connection allowed): the same
                // remedy, then the same position again.
                invalidation = try replaceInvalidatedSlot(connection, plan: plan, error.invalidatedSlot!, inactiveSince: nil)
                try connection.createPhysicalReplicationSlot(plan.slot, reserveWAL: true)
                slotRestart = try connection.readReplicationSlot(plan.slot)?.restart
                continue
            } catch let error as ReplicationError where error.sqlState == "58P01" && resumingFromArchive {
                // The server recycled WAL the repository never got (the slot was dropped,
                // invalidated or recreated meanwhile). Waiting cannot bring it back: say so
                // loudly, record the gap in the repository, and keep archiving from what the
                // server still has.
                let server = SessionPlan.start(
                    archiveEnd: nil, slot: slotRestart,
                    server: (cluster.timeline, cluster.walPosition), segmentSize: plan.segmentSize)
                let after = SessionPlan.afterRemovedWAL(
                    streamStart: position, received: machine.progress.received, resume: server.lsn, segmentSize: plan.segmentSize)
                // Queued by the state machine once the server's clock is known (its first message).
                if let missing = after.gap {
                    let why = invalidation.map { "\($0); " } ?? ""
                    _ = machine.handle(.gapFound(WALGap(
                        startLSN: missing.lowerBound, endLSN: missing.upperBound, timeline: timeline, resumedTimeline: server.timeline,
                        segmentSize: plan.segmentSize, detectedAt: Date(), archivedBefore: nil,
                        reason: "\(why)the server had already removed the WAL when streaming resumed (\(error))",
                        slotInvalidation: invalidation)))
                    logger.error(
                        "the server no longer has the WAL after the repository's end: the archive has a gap from \(missing.lowerBound) to \(missing.upperBound); point-in-time recovery cannot cross it — a base backup follows once the gap is recorded",
                        metadata: ["error": "\(error)", "slot": "\(plan.slot)"])
                }
                (timeline, position) = (server.timeline, after.resume)
                resumingFromArchive = false
                continue
            }
            resumingFromArchive = false
            switch outcome {
            case .stopped:
                return
            case let .timelineEnded(next, nextStart):
                // The machine stored the old timeline's last segment as a partial.
                let history = try connection.timelineHistory(next)
                queue.yield(.history(next, content: history.content))
                logger.info("timeline switch", metadata: ["from": "\(timeline)", "to": "\(next)", "at": "\(nextStart)"])
                timeline = next
                position = nextStart - plan.segmentSize.offset(of: nextStart)
            case let .ended(at):
                throw WALStreamError.serverEndedStreaming(at: at)
            }
        }
    }

    /// The server's timeline history (`TIMELINE_HISTORY`; timeline 1 has none).
    private func serverHistory(_ connection: PostgresConnection, timeline: TimelineID) throws -> TimelineHistory {
        guard timeline > TimelineID(1) else { return TimelineHistory(timeline: timeline, entries: []) }
        let file = try connection.timelineHistory(timeline)
        do {
            return try TimelineHistory(parsing: String(decoding: file.content, as: UTF8.self), timeline: timeline)
        } catch {
            throw PostgresError.unexpectedResponse("unable to read the history of timeline \(timeline) from the server: \(error)")
        }
    }

    enum ReceiveOutcome {
        case stopped
        case timelineEnded(next: TimelineID, start: LSN)
        case ended(at: LSN)
    }

    /// The receive loop, a driver of `WALReceiverStateMachine`: read a message (or nothing within
    /// the machine's poll timeout), tell the machine what the repository holds and what came,
    /// perform its actions. A stop request or a newer primary finishes gracefully: the partial
    /// segment stored, the repository waited for (bounded), a last status update.
    func receive(
        _ stream: ReplicationStream, machine: inout WALReceiverStateMachine, spool: WALSpool, progress: SharedProgress,
        queue: AsyncStream<UploadJob>.Continuation
    ) throws -> ReceiveOutcome {
        let clock = ContinuousClock()
        let actions = WALReceiverActions(stream: stream, spool: spool, progress: progress, queue: queue)
        func outcome(_ ending: WALReceiverStateMachine.Action?) -> ReceiveOutcome? {
            switch ending {
            case let .switchTimeline(next, start): return .timelineEnded(next: next, start: start)
            case let .streamEnded(at): return .ended(at: at)
            case .stop:
                let status = machine.progress.status
                logger.info("final status sent", metadata: ["write": "\(status.write)", "flush": "\(status.flush)"])
                return .stopped
            default: return nil
            }
        }
        while true {
            if slotDropRequested.load(ordering: .relaxed) {
                throw SlotDropRequested()  // at once: the repository may be what is stuck
            }
            if isStopping || primaryMoved.load(ordering: .sequentiallyConsistent),
               let done = outcome(try actions.handle(.stopRequested(now: clock.now), &machine)) {
                return done
            }
            if machine.isFinishing {
                if let done = outcome(try actions.handle(.archived(upTo: progress.value.archived), &machine)) { return done }
                usleep(50_000)
                if let done = outcome(try actions.handle(.tick(now: clock.now), &machine)) { return done }
                continue
            }
            let message = try stream.receive(timeout: machine.pollTimeout)
            try actions.handle(.archived(upTo: progress.value.archived), &machine)
            if let done = outcome(try actions.handle(WALReceiverStateMachine.event(for: message, now: clock.now), &machine)) {
                return done
            }
        }
    }
}
