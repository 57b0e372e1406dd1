import Foundation
import PGBackupFoundations
import PGBackupRepository

/// How a backup is pinned (`pgbackup pin ID [--standalone]`).
public enum RetentionPin: String, Sendable, Hashable, Codable {
    /// The backup and all WAL after it stay.
    case full
    /// The backup and only its own start..stop WAL stay.
    case standalone
}

/// One complete backup as the retention planner sees it.
public struct RetentionBackup: Sendable, Hashable {
    public var id: BackupID
    public var timeline: TimelineID
    public var startLSN: LSN
    public var stopLSN: LSN
    /// The server's time at the backup's end (its consistency point).
    public var stopTime: Date
    public var pin: RetentionPin?

    public init(id: BackupID, timeline: TimelineID, startLSN: LSN, stopLSN: LSN, stopTime: Date, pin: RetentionPin?) {
        self.id = id
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.stopTime = stopTime
        self.pin = pin
    }
}

/// Why a backup stays.
public enum RetentionReason: String, Sendable, Hashable, Codable, CaseIterable {
    case redundancy, window, daily, weekly, monthly, yearly, pinned, minimum
    /// No rule is set (no policy): everything stays.
    case noPolicy = "no-policy"
}

/// What the planner decided: pure data, applied by the executor (backups first, WAL second,
/// chunks last) or printed by `retention --dry-run`.
public struct RetentionPlan: Sendable, Hashable {
    public struct Kept: Sendable, Hashable {
        public var id: BackupID
        /// Every rule that keeps it, in `RetentionReason`'s order.
        public var reasons: [RetentionReason]
        public init(id: BackupID, reasons: [RetentionReason]) {
            self.id = id
            self.reasons = reasons
        }
    }

    /// Oldest first.
    public var kept: [Kept]
    /// Oldest first.
    public var removed: [BackupID]
    /// Completed WAL segments to delete, per timeline, oldest first. Never `.history` files
    /// (the planner does not list them) and never WAL a kept backup needs.
    public var walRemovals: [WALSegmentRange]

    public init(kept: [Kept], removed: [BackupID], walRemovals: [WALSegmentRange]) {
        self.kept = kept
        self.removed = removed
        self.walRemovals = walRemovals
    }
}
