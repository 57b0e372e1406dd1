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
        var pendingGap: WALGap?
        while true {
            progress.update { $0.restart(at: position) }
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
                outcome = try receive(stream, timeline: timeline, spool: spool, progress: progress, queue: queue, gap: &pendingGap)
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
                    streamStart: position, received: progress.value.received, resume: server.lsn, segmentSize: plan.segmentSize)
                // Queued by the receive loop once the server's clock is known (its first message).
                if let missing = after.gap {
                    let why = invalidation.map { "\($0); " } ?? ""
                    pendingGap = WALGap(
                        startLSN: missing.lowerBound, endLSN: missing.upperBound, timeline: timeline, resumedTimeline: server.timeline,
                        segmentSize: plan.segmentSize, detectedAt: Date(), archivedBefore: nil,
                        reason: "\(why)the server had already removed the WAL when streaming resumed (\(error))",
                        slotInvalidation: invalidation)
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
                // The old timeline's last segment stays partial: store it as such.
                if let segment = spool.currentSegment {
                    try spool.closeCurrent()
                    progress.update { $0.didSyncSpool() }
                    let length = Int(progress.value.received - segment.startLSN)
                    queue.yield(.partial(segment, path: spool.partialPath(segment), length: length, final: true))
                }
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

    /// The receive loop: write to the spool, fsync when the socket runs dry, report positions,
    /// queue completed segments and periodic partial copies. A `gap` found before this stream
    /// started is queued at the server's first message, stamped with the server's clock, ahead of
    /// any WAL after it.
    func receive(
        _ stream: ReplicationStream, timeline: TimelineID, spool: WALSpool, progress: SharedProgress,
        queue: AsyncStream<UploadJob>.Continuation, gap: inout WALGap?
    ) throws -> ReceiveOutcome {
        let clock = ContinuousClock()
        var lastStatusTime = clock.now - options.statusInterval
        var lastPartialTime = clock.now
        var lastPartialEnd = LSN.zero
        var reported: (write: LSN, flush: LSN)?
        var replyRequested = false
        var times = WALTimeRecorder()

        func report(force: Bool) throws {
            let status = progress.value.status
            let changed = reported.map { $0.write != status.write || $0.flush != status.flush } ?? true
            let flushMoved = reported.map { $0.flush != status.flush } ?? true
            let due = clock.now - lastStatusTime >= options.statusInterval
            guard force || due || flushMoved || (options.synchronous && changed) else { return }
            try stream.sendStatus(write: status.write, flush: status.flush, apply: .zero, replyRequested: false)
            reported = status
            lastStatusTime = clock.now
        }

        while true {
            if slotDropRequested.load(ordering: .relaxed) {
                throw SlotDropRequested()  // at once: the repository may be what is stuck
            }
            if isStopping || primaryMoved.load(ordering: .sequentiallyConsistent) {
                try finish(stream, spool: spool, progress: progress, queue: queue, times: times)
                return .stopped
            }
            let pending = progress.value.received > progress.value.written
            let event = try stream.receive(timeout: pending ? .zero : .milliseconds(100))
            switch event {
            case let .walData(data):
                let completed = try data.bytes.withUnsafeBytes { try spool.write($0, at: data.start, timeline: timeline) }
                progress.update { $0.didReceive(upTo: data.end) }
                times.observe(serverTime: data.serverTime, sentUpTo: data.end)
                queueGap(&gap, detectedAt: data.serverTime, queue: queue)
                for segment in completed {
                    progress.update { $0.didSyncSpool(upTo: segment.endLSN) }
                    queue.yield(.segment(segment, path: spool.completedPath(segment), times: times.record(for: segment, upTo: segment.endLSN)))
                    times.completed(segment)
                }
                continue  // drain what is already there before fsync
            case let .keepalive(walEnd, serverTime, reply):
                times.observe(serverTime: serverTime, sentUpTo: min(walEnd, progress.value.received))
                queueGap(&gap, detectedAt: serverTime, queue: queue)
                replyRequested = replyRequested || reply
            case let .endOfTimeline(next, start):
                return .timelineEnded(next: next, start: start)
            case .endOfStream:
                return .ended(at: progress.value.received)
            case nil:
                break
            }
            if progress.value.received > progress.value.written {
                try spool.sync()
                progress.update { $0.didSyncSpool() }
            }
            // The segment being written goes to the repository every partialUploadInterval, and
            // also once the stream has been quiet for 100 ms (at most once a second), so that
            // after a burst the repository — and *flush* — catch up in about one upload.
            let quiet = event == nil && !pending
            let sinceLastPartial = clock.now - lastPartialTime
            if let interval = options.partialUploadInterval, let segment = spool.currentSegment,
               sinceLastPartial >= interval || (quiet && sinceLastPartial >= min(interval, .seconds(1))) {
                let written = progress.value.written
                if written > max(segment.startLSN, lastPartialEnd) {
                    queue.yield(.partial(
                        segment, path: spool.partialPath(segment), length: Int(written - segment.startLSN), final: false,
                        times: times.record(for: segment, upTo: written)))
                    lastPartialEnd = written
                    lastPartialTime = clock.now
                } else if sinceLastPartial >= interval {
                    lastPartialTime = clock.now
                }
            }
            try report(force: replyRequested)
            replyRequested = false
        }
    }

    /// Queues a pending gap record, stamped with the server's time.
    private func queueGap(_ gap: inout WALGap?, detectedAt time: Date, queue: AsyncStream<UploadJob>.Continuation) {
        guard var found = gap else { return }
        found.detectedAt = time
        queue.yield(.gap(found))
        gap = nil
    }

    /// A graceful stop: fsync, store the partial segment, wait (bounded) for the repository to
    /// hold everything written, send a last status, end the stream.
    private func finish(
        _ stream: ReplicationStream, spool: WALSpool, progress: SharedProgress, queue: AsyncStream<UploadJob>.Continuation,
        times: WALTimeRecorder
    ) throws {
        try spool.sync()
        progress.update { $0.didSyncSpool() }
        let written = progress.value.written
        if let segment = spool.currentSegment, written > segment.startLSN {
            queue.yield(.partial(
                segment, path: spool.partialPath(segment), length: Int(written - segment.startLSN), final: false,
                times: times.record(for: segment, upTo: written)))
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while progress.value.archived < written && ContinuousClock.now < deadline {
            usleep(50_000)
        }
        let status = progress.value.status
        try stream.sendStatus(write: status.write, flush: status.flush, apply: .zero, replyRequested: false)
        try? stream.stop()
        logger.info("final status sent", metadata: ["write": "\(status.write)", "flush": "\(status.flush)"])
    }
}
