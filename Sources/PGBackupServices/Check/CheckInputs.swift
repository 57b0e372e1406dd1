import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupStorage

/// What `pgbackup check` measured, each measurement on its own: one that failed carries its
/// reason (one line, passwords scrubbed) and the others are still there. `CheckDecision` turns
/// it into the report; `CheckService` measures.
struct CheckInputs: Sendable {
    /// A measurement, or why it could not be made.
    enum Measured<Value: Sendable>: Sendable {
        case measured(Value)
        case failed(reason: String)
    }

    /// The repository as `RepositoryAccess.openReadingInfo` found it.
    enum RepositoryReading: Sendable {
        case opened(location: String, keyID: String?, encryption: String, info: RepositoryInfo)
        case notInitialized(server: String, location: String)
        case failed(reason: String)

        var info: RepositoryInfo? {
            if case .opened(_, _, _, let info) = self { info } else { nil }
        }
    }

    /// The primary chosen as the daemon chooses it, and the split-brain alert when another
    /// primary answers too.
    struct Primary: Sendable {
        var state: PrimaryState
        var splitBrain: String?
    }

    /// The WAL archive: its continuity and histories, its end (the partial tail included), the
    /// newest server time recorded, and the backups and gaps the continuity check weighs.
    struct Archive: Sendable {
        var segmentSize: WALSegmentSize
        var continuity: WALContinuity
        var histories: [TimelineID: TimelineHistory]
        var end: LSN?
        var newestTime: Date?
        var backups: [CheckContinuity.Backup]
        var gaps: [WALGap]
    }

    /// The complete backups, as `backup_age`, `backup_checksums` and `redundancy` see them.
    struct Backups: Sendable {
        var newestID: String?
        var newestStop: Date?
        var newestChecksumFailures: PageChecksumFailures?
        var complete: Int
    }

    /// The diverged WAL records and the newest backup they are weighed against.
    struct Diverged: Sendable {
        var records: [DivergedWAL]
        var newestBackupID: String?
        var newestBackupStop: Date?
    }

    /// An S3 repository's credentials (as the process's shared cache holds them after the
    /// repository was read) and its server-side encryption probe (nil: none configured).
    struct S3Access: Sendable {
        var credentials: S3CredentialStatus
        var encryption: Measured<SSEProbe>?
    }

    struct SSEProbe: Sendable {
        var expected: String
        var matches: Bool
        var answered: String
    }

    /// The settings the report names.
    var server: String
    var slot: String
    /// `settings.policy` as configured (a name or a path), and the policy it loaded.
    var policyName: String?
    var policy: Policy?
    /// The conninfo with its passwords redacted, nil when not set.
    var conninfo: String?
    var now: Date

    var repository: RepositoryReading
    /// Nil for a file:// repository.
    var s3: S3Access?
    var primary: Measured<Primary>
    /// Nil when the repository is unreachable (none of these were measured).
    var archive: Measured<Archive>?
    var backups: Measured<Backups>?
    var verification: Measured<VerificationRecord?>?
    var diverged: Measured<Diverged>?
}
