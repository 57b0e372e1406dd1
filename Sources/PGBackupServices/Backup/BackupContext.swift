import PGBackupFoundations
import PGBackupRepository

/// What `BackupService` established before the work under the lock starts, passed once to the
/// steps that need it: the run's options, the repository and its cluster, the server's identity,
/// the clocks, and the backup lock it holds.
struct BackupContext: Sendable {
    var options: BackupOptions
    var repository: Repository
    /// The repository's system identifier, as `repository.json` records it.
    var repositorySystem: SystemIdentifier
    var segmentSize: WALSegmentSize
    /// The cluster the backup connection reached (IDENTIFY_SYSTEM).
    var cluster: ClusterIdentity
    var began: ContinuousClock.Instant
    var phases: PhaseClock
    var lock: RepositoryLock
    var owner: LockOwner
}
