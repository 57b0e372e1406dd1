import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// What `pgbackup verify` read of one history before deciding anything (`VerifyPlan` decides
/// from it): the listings of `backups/`, `chunks/` and `wal/`, the covered backups' manifests,
/// the timeline histories and recorded gaps the WAL check follows, and the repository's layout.
struct VerifyInputs: Sendable {
    /// One chunk (or pack) object stored under `chunks/`.
    struct StoredChunk: Sendable, Hashable {
        var key: String
        var algorithm: CompressionAlgorithm
        var size: Int64
    }

    var backupLayout: BackupLayout
    var walLayout: WALArchiveLayout
    var segmentSize: WALSegmentSize
    var chunkNaming: ChunkNaming
    /// The compression the settings store WAL with (it names a missing segment's key).
    var walCompression: CompressionAlgorithm
    var walRetention: RetentionRules.WALRetention
    /// The backups covered, oldest first, and the `backup.json` files found damaged.
    var covered: [BackupManifest]
    var damaged: [VerifyReport.Problem]
    /// The newest complete backup of the history (covered or not).
    var newest: BackupID?
    /// Every object under `backups/`: key → stored size.
    var backupObjects: [String: Int64]
    /// Every chunk object under `chunks/`, by chunk name (`ChunkNaming`).
    var storedChunks: [SHA256Digest: [StoredChunk]]
    var walListing: [ObjectInfo]
    var continuity: WALContinuity
    var diverged: [DivergedWAL]
    /// The history of every timeline the WAL check may follow (an unreadable one: no entries).
    var histories: [TimelineID: TimelineHistory]
    var gaps: [WALGap]

    /// The history of `timeline` (read or not, it is a known timeline).
    func history(_ timeline: TimelineID) -> TimelineHistory {
        histories[timeline] ?? TimelineHistory(timeline: timeline, entries: [])
    }

    /// The timelines whose history the WAL check follows: each covered backup's, and the
    /// archive's newest when a covered backup is on another.
    static func timelinesFollowed(covered: [BackupManifest], latest: TimelineID?) -> Set<TimelineID> {
        var timelines = Set(covered.map(\.timeline))
        if let latest, covered.contains(where: { $0.timeline != latest }) { timelines.insert(latest) }
        return timelines
    }
}
