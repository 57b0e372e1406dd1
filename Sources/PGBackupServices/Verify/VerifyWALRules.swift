import PGBackupFoundations
import PGBackupRepository

/// Which WAL each backup needs, as `pgbackup verify` checks it: the holes retention makes on
/// purpose are not damage. Pure.
///
/// - Every backup needs its own WAL (start to stop).
/// - A backup pinned `--standalone` needs nothing more (retention keeps only its own WAL).
/// - Under a policy with `wal: consistency`, every backup but the newest needs nothing more; the
///   newest needs its start to the end of the archive.
/// - Otherwise (`wal: pitr`, or no policy) a backup needs its start to the end of the archive.
public struct VerifyWALRules: Sendable, Hashable {
    public var walRetention: RetentionRules.WALRetention
    /// The newest complete backup of the repository (covered or not).
    public var newest: BackupID?

    public init(walRetention: RetentionRules.WALRetention, newest: BackupID?) {
        self.walRetention = walRetention
        self.newest = newest
    }

    /// Whether `backup` needs the WAL from its stop to the end of the archive.
    public func needsArchiveTail(id: BackupID, pin: BackupManifest.PinKind?) -> Bool {
        if pin == .standalone { return false }
        if walRetention == .consistency { return id == newest }
        return true
    }

    /// The end of the WAL `backup` needs: its own stop (at least one byte past its start), or the
    /// archive's end when `needsArchiveTail` and the archive reaches further.
    public func requiredEnd(id: BackupID, pin: BackupManifest.PinKind?, startLSN: LSN, stopLSN: LSN, archiveEnd: LSN?) -> LSN {
        let own = max(stopLSN, startLSN + 1)
        guard needsArchiveTail(id: id, pin: pin), let archiveEnd else { return own }
        return max(own, archiveEnd)
    }
}
