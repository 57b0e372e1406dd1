import Foundation
import PGBackupFoundations
import PGBackupRepository

/// What `pgbackup retention` decided and did (or, with `--dry-run`, would do). `--json` prints it.
public struct RetentionReport: Sendable, Encodable {
    public struct Kept: Sendable, Encodable {
        public var id: BackupID
        public var reasons: [RetentionReason]
        public var pin: RetentionPin?
    }

    public struct Removed: Sendable, Encodable {
        public var id: BackupID
        public var timeline: TimelineID
        public var stopTime: Date
        /// The backup's own objects under `backups/<id>/` (its chunks are the sweep's).
        public var bytes: Int64
    }

    public struct WALRemoval: Sendable, Encodable {
        public var timeline: TimelineID
        public var first: String
        public var last: String
        public var count: UInt64
    }

    public struct Chunks: Sendable, Encodable {
        public var removed: Int
        public var bytesFreed: Int64
    }

    public var dryRun: Bool
    /// The policy applied (`PGBACKUP_POLICY`), nil when none: everything is kept.
    public var policy: String?
    public var kept: [Kept] = []
    public var removed: [Removed] = []
    /// Backups whose `backup.json` cannot be read: never removed; the chunk sweep waits for them.
    public var damaged: [DamagedBackup] = []
    public var wal: [WALRemoval] = []
    /// Objects and bytes of completed segments (and their time records) removed.
    public var walObjects: Int = 0
    public var walBytesFreed: Int64 = 0
    public var chunks = Chunks(removed: 0, bytesFreed: 0)
    /// Incomplete backups (objects without a `backup.json`) whose objects were removed.
    public var leftovers: [BackupID] = []
    /// Stale partial segments removed.
    public var partials: Int = 0
    /// `done`, `dry-run`, or `deferred: <why>` / `stopped: <why>` (the sweep and the leftovers
    /// clean-up did not run, or stopped, and the next run does them).
    public var sweep: String = "done"
    /// Everything removed: the backups' own objects, WAL and chunks.
    public var bytesFreed: Int64 {
        removed.reduce(0) { $0 + $1.bytes } + walBytesFreed + chunks.bytesFreed
    }

    private enum CodingKeys: String, CodingKey {
        case dryRun, policy, kept, removed, damaged, wal, walObjects, walBytesFreed, chunks, leftovers, partials, sweep, bytesFreed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dryRun, forKey: .dryRun)
        try container.encode(policy, forKey: .policy)
        try container.encode(kept, forKey: .kept)
        try container.encode(removed, forKey: .removed)
        try container.encode(damaged, forKey: .damaged)
        try container.encode(wal, forKey: .wal)
        try container.encode(walObjects, forKey: .walObjects)
        try container.encode(walBytesFreed, forKey: .walBytesFreed)
        try container.encode(chunks, forKey: .chunks)
        try container.encode(leftovers, forKey: .leftovers)
        try container.encode(partials, forKey: .partials)
        try container.encode(sweep, forKey: .sweep)
        try container.encode(bytesFreed, forKey: .bytesFreed)
    }
}
