import Foundation
import PGBackupFoundations

/// What `ReplicationStream.receive` hands out.
public enum ReplicationEvent: Hashable, Sendable {
    /// WAL bytes, owned by the event. Consecutive `.walData` are contiguous: each starts where the
    /// previous ended (`end`), from the position given to `start` on.
    case walData(XLogData)
    /// The server's position and clock; when `replyRequested`, send a status update now or the
    /// server drops the connection once `wal_sender_timeout` has passed since the last one.
    case keepalive(walEnd: LSN, serverTime: Date, replyRequested: Bool)
    /// The streamed timeline ended: the server was promoted (or follows a new timeline) and has
    /// sent every byte of the old timeline up to `nextTimelineStart`, the switch point in the
    /// new timeline's history file. The connection is idle again: fetch the history
    /// (`TIMELINE_HISTORY`) and `start` again on `nextTimeline`, from the beginning of the
    /// segment holding `nextTimelineStart` (the new timeline's copy of that segment begins with
    /// the old timeline's bytes, as pg_receivewal relies on).
    case endOfTimeline(nextTimeline: TimelineID, nextTimelineStart: LSN)
    /// The server ended the stream without a timeline switch, typically because it is shutting
    /// down (it does so only once the client has confirmed everything it was sent). The
    /// connection may be closed by the server right after.
    case endOfStream
}
