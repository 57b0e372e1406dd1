import Foundation
import PGBackupPostgres
import PGBackupRepository

/// How `BackupService` takes a backup.
public struct BackupOptions: Sendable {
    /// Chunks compressed and stored at once (`--jobs`); reading from the server stays sequential.
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Written into `backup_label`; default `pgbackup <id>`.
    public var label: String?
    public var checkpoint: BaseBackupOptions.Checkpoint = .fast
    public var chunking: ChunkingPolicy = .default
    /// The server sends at most this many kB per second (`MAX_RATE`, within `maxRateRange`);
    /// nil: full speed.
    public var maxRateKilobytesPerSecond: Int?
    public static let maxRateRange = BaseBackupOptions.maxRateRange
    /// Called from the backup's reading thread, about once a second.
    public var onProgress: (@Sendable (BackupProgress) -> Void)?
    /// A live lock older than this counts as abandoned (`RepositoryLock.staleAfter`); the backup
    /// refreshes its own every `lockStaleAfter / 5`.
    public var lockStaleAfter: TimeInterval = 600

    public init() {}
}

/// Where a running backup is, for `--progress`.
public struct BackupProgress: Sendable {
    public enum Phase: String, Sendable {
        /// Waiting for the server's checkpoint.
        case checkpoint
        /// Receiving the data directory.
        case copying
        /// Data received; waiting for the WAL that makes it consistent, and the last chunks.
        case finishing
    }

    public var phase: Phase
    /// Archive bytes received so far.
    public var bytesDone: Int64
    /// The server's estimate of the whole (with `PROGRESS`), nil before it is known.
    public var bytesTotal: Int64?
    public var elapsed: Duration

    /// `elapsed` in seconds.
    public var seconds: Double {
        elapsed.inSeconds
    }
}
