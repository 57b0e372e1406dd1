import Foundation
import PGBackupFoundations

/// A recorded gap in the WAL archive: WAL the server removed before the repository got it
/// (`58P01`), so point-in-time recovery cannot cross it. Stored as
/// `<server>/wal/gaps/<first segment>-<last segment>.json` (`WALArchiveLayout.gapKey`), sealed
/// raw, by the daemon when it skips ahead; `list`, `show` and the restore planner read it, and
/// the record stays for `check`, `/health` and metrics.
public struct WALGap: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The first LSN the repository lacks (a segment boundary: the end of its WAL before the gap).
    public var startLSN: LSN
    /// Where archiving resumed: the first LSN after the gap that the repository holds (a segment
    /// boundary).
    public var endLSN: LSN
    /// The timeline of the WAL before the gap, and the one archiving resumed on.
    public var timeline: TimelineID
    public var resumedTimeline: TimelineID
    /// The missing segments, first and last (as PostgreSQL names them).
    public var firstSegment: String
    public var lastSegment: String
    /// When the daemon found the gap, by the server's clock (its first message after the gap):
    /// the WAL after the gap was written at about this time or later.
    public var detectedAt: Date
    /// The newest server time recorded with the WAL before the gap (nil: none recorded): the WAL
    /// before the gap is no newer. A time target between this and `detectedAt` may lie inside the gap.
    public var archivedBefore: Date?
    /// Why the WAL is missing, as the server said.
    public var reason: String
    /// When the server had invalidated the daemon's replication slot before the WAL went
    /// missing: which slot, why and since when it was unused (nil: no invalidation was seen;
    /// absent from records written before pgbackup knew of it).
    public var slotInvalidation: SlotInvalidationRecord?

    /// The server invalidated the daemon's replication slot (PostgreSQL's
    /// `pg_replication_slots.invalidation_reason`), so it kept no WAL for the repository.
    public struct SlotInvalidationRecord: Codable, Sendable, Hashable, CustomStringConvertible {
        /// The slot's name.
        public var slot: String
        /// PostgreSQL's name of the cause: `idle_timeout`, `wal_removed`, …
        public var reason: String
        /// What the cause means (`idle_replication_slot_timeout`, `max_slot_wal_keep_size`).
        public var explanation: String
        /// Since when the slot was unused (PostgreSQL 17+; nil when the server does not say).
        public var inactiveSince: Date?

        public init(slot: String, reason: String, explanation: String, inactiveSince: Date?) {
            self.slot = slot
            self.reason = reason
            self.explanation = explanation
            self.inactiveSince = inactiveSince
        }

        /// `replication slot 'pgbackup' invalidated by the server (idle_timeout: …; unused since …)`
        public var description: String {
            "replication slot '\(slot)' invalidated by the server (\(reason): \(explanation)"
                + (inactiveSince.map { "; unused since \($0.formatted(.iso8601))" } ?? "") + ")"
        }
    }

    /// `startLSN` and `endLSN` must be segment boundaries, `startLSN < endLSN`.
    public init(
        startLSN: LSN, endLSN: LSN, timeline: TimelineID, resumedTimeline: TimelineID, segmentSize: WALSegmentSize,
        detectedAt: Date, archivedBefore: Date?, reason: String, slotInvalidation: SlotInvalidationRecord? = nil
    ) {
        precondition(startLSN < endLSN, "a gap ends after it starts")
        self.startLSN = startLSN
        self.endLSN = endLSN
        self.timeline = timeline
        self.resumedTimeline = resumedTimeline
        firstSegment = WALSegmentName(timeline: timeline, containing: startLSN, segmentSize: segmentSize).name
        lastSegment = WALSegmentName(timeline: timeline, containing: endLSN - 1, segmentSize: segmentSize).name
        self.detectedAt = detectedAt
        self.archivedBefore = archivedBefore
        self.reason = reason
        self.slotInvalidation = slotInvalidation
    }

    /// Whether the WAL at `lsn` is missing.
    public func contains(_ lsn: LSN) -> Bool { startLSN <= lsn && lsn < endLSN }

    /// Whether WAL written at `time` may lie inside the gap: the times of its WAL are not known,
    /// only bounded by the store time of the last WAL before it and the detection. False when
    /// the first bound is unknown (the time cannot be placed).
    public func mayContain(_ time: Date) -> Bool {
        guard let archivedBefore else { return false }
        return archivedBefore < time && time <= detectedAt
    }

    /// `WAL gap 000000010000000000000005…00000001000000000000000A (0/5000000 to 0/B000000), recorded 2026-…: <reason>`
    public var description: String {
        let segments = firstSegment == lastSegment ? firstSegment : "\(firstSegment)…\(lastSegment)"
        return "WAL gap \(segments) (\(startLSN) to \(endLSN)), recorded \(detectedAt.formatted(.iso8601)): \(reason)"
    }
}
