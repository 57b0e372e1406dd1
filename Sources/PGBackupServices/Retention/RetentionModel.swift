import Foundation
import PGBackupFoundations
import PGBackupRepository

/// What a policy's `retention:` section asks for (DESIGN.md, "Retention policies"). A nil rule is
/// off. No rule at all (no policy) keeps everything. Values are validated by the policy loader.
public struct RetentionRules: Sendable, Hashable, Codable {
    /// Which WAL stays.
    public enum WALRetention: String, Sendable, Hashable, Codable, CaseIterable {
        /// All WAL from the oldest kept backup on (standalone pins aside): PITR to any moment.
        case pitr
        /// Each kept backup's own WAL (start to stop segment) only: restorable to each backup's end.
        case consistency
    }

    /// The newest N complete backups.
    public var redundancy: Int?
    /// PITR to any moment of the last `recoveryWindow` seconds: every backup that ended inside
    /// the window, plus the newest one that ended before it.
    public var recoveryWindow: TimeInterval?
    /// GFS: the newest backup of each of the last N UTC days / ISO weeks / months / years that have one.
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// A floor nothing goes below, whatever else says (also refuses a manual removal below it).
    public var minimumRedundancy: Int?
    public var wal: WALRetention

    public init(
        redundancy: Int? = nil, recoveryWindow: TimeInterval? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil,
        keepMonthly: Int? = nil, keepYearly: Int? = nil, minimumRedundancy: Int? = nil, wal: WALRetention = .pitr
    ) {
        self.redundancy = redundancy
        self.recoveryWindow = recoveryWindow
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.minimumRedundancy = minimumRedundancy
        self.wal = wal
    }
}

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
