import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import Synchronization

/// The WAL streamer at one instant, for the daemon's `/ready`, `/status` and `/metrics`: cheap to
/// take (one lock each for the live record and the stream's positions), never blocking the stream.
public struct WALStreamerStatus: Sendable, Equatable {
    /// A replication stream is running (between `START_REPLICATION` and the session's end).
    public var streaming = false
    /// The server streamed from last (the chosen primary).
    public var server: String?
    /// The timeline being streamed (the last one when not streaming).
    public var timeline: TimelineID?
    /// The end of the WAL handed to the spool, fsync'd in the spool, and durable in the repository.
    public var received: LSN?
    public var written: LSN?
    public var archived: LSN?
    /// The *flush* position reported to the server: where the slot's `restart_lsn` follows.
    public var flushReported: LSN?
    /// When the WAL stored last was written, on the server's clock where the stream knew it,
    /// else the time it was stored.
    public var lastArchivedTime: Date?
    /// Segments stored in the repository since the daemon started.
    public var segmentsArchived = 0
    /// Gaps recorded in the repository since the daemon started.
    public var gapsRecorded = 0
    /// Split brains seen since the daemon started.
    public var splitBrains = 0
    /// Times the daemon dropped its slot (`slot_retained_drop`).
    public var slotsDropped = 0
    /// Times the daemon found its slot invalidated by the server and made it anew.
    public var slotsRecreated = 0

    public init() {}
}

/// What the streamer's parts report, under one lock.
struct WALStreamerLive: Sendable {
    var streaming = false
    var timeline: TimelineID?
    var progress: SharedProgress?
    var lastArchivedTime: Date?
    var segmentsArchived = 0
    var gapsRecorded = 0
    var slotsDropped = 0
    var slotsRecreated = 0
}

extension WALStreamer {
    /// The streamer's state now (see `WALStreamerStatus`).
    public var status: WALStreamerStatus {
        let live = self.live.withLock { $0 }
        var status = WALStreamerStatus()
        status.streaming = live.streaming
        status.server = streamingServer.map { "\($0)" }
        status.timeline = live.timeline
        if let progress = live.progress?.value {
            status.received = progress.received
            status.written = progress.written
            status.archived = progress.archived
            status.flushReported = progress.status.flush
        }
        status.lastArchivedTime = live.lastArchivedTime
        status.segmentsArchived = live.segmentsArchived
        status.gapsRecorded = live.gapsRecorded
        status.splitBrains = splitBrainsDetected.load(ordering: .relaxed)
        status.slotsDropped = live.slotsDropped
        status.slotsRecreated = live.slotsRecreated
        return status
    }

    /// Asks the streamer to drop its replication slot (the primary holds too much WAL for it):
    /// the current session ends at once (without waiting for the repository), the slot is dropped
    /// on a new connection, and streaming resumes as usual — a gap is recorded if the server
    /// removed WAL the repository lacks. Safe from any thread.
    public func requestSlotDrop() {
        slotDropRequested.store(true, ordering: .sequentiallyConsistent)
    }

    /// A slot drop was asked for and has not happened yet.
    public var slotDropPending: Bool { slotDropRequested.load(ordering: .relaxed) }

    /// Drops the slot on `server` (no session holds it: the last one ended).
    func dropSlot(on server: ConninfoServer, conninfo: String) async {
        do {
            try await BlockingIO.runLong { [self] in
                let connection = try PrimaryLocator.connect(server, conninfo: conninfo, environment: environment)
                defer { connection.close() }
                try connection.dropReplicationSlot(settings.slot)
            }
            live.withLock { $0.slotsDropped += 1 }
            logger.error(
                "dropped replication slot '\(settings.slot)' on \(server) (slot_retained_drop): the primary may now remove WAL the repository lacks; if it does, the gap is recorded and a base backup taken once the repository takes WAL again",
                metadata: ["server": "\(server)", "slot": "\(settings.slot)"])
        } catch {
            logger.error("unable to drop replication slot '\(settings.slot)' on \(server): \(error)", metadata: ["server": "\(server)"])
        }
    }

    /// WAL up to a stored object's end reached the repository.
    func noteArchived(segment: Bool, times: WALTimeRecord?) {
        let time = times?.last?.time ?? Date()
        live.withLock {
            if segment { $0.segmentsArchived += 1 }
            $0.lastArchivedTime = max($0.lastArchivedTime ?? time, time)
        }
    }
}

/// The session ended because a slot drop was asked for (`requestSlotDrop`).
struct SlotDropRequested: Error, CustomStringConvertible {
    var description: String { "the session ended to drop the replication slot" }
}
