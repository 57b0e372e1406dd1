import Foundation
import PGBackupFoundations

/// One line of `pgbackup list`: a backup without its file list.
public struct BackupSummary: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        /// `backup.json` exists: the backup is whole (the catalog lists nothing else).
        case complete
        /// Whole and restorable too, but the server found pages whose checksum failed while it
        /// sent them: they are in the backup as it read them (`checksumFailures` names them).
        case checksumFailures = "checksum-failures"
    }

    public var id: BackupID
    public var status: Status
    /// The cluster it was taken from: a server holds several after `init --upgrade`, each with
    /// its own system identifier and major.
    public var systemIdentifier: SystemIdentifier
    /// `server_version_num` of the backed-up server, e.g. 160014, and its major (16): the
    /// server binaries a restore of it needs.
    public var postgresVersionNumber: Int
    public var postgresMajor: Int
    public var label: String
    public var timeline: TimelineID
    public var startLSN: LSN
    public var stopLSN: LSN
    public var startTime: Date
    public var stopTime: Date
    /// Bytes of file content backed up.
    public var databaseSize: Int64
    /// Bytes this backup added to the repository, and the stored bytes of the chunks it shares
    /// with earlier backups.
    public var storedNew: Int64
    public var storedDeduplicated: Int64
    public var newChunks: Int
    public var deduplicatedChunks: Int
    public var compression: Compression
    /// `none` or `aes-256-gcm` (`BackupManifest.encryption`).
    public var encryption: String
    public var durationSeconds: Double
    /// The WAL segments a restore of it needs at least.
    public var wal: BackupManifest.WALRange
    public var pinned: Bool
    /// `full` or `standalone` when pinned (`BackupManifest.pin`).
    public var pin: BackupManifest.PinKind?
    /// The pages whose checksum failed (`BackupManifest.checksumFailures`); absent when none.
    public var checksumFailures: PageChecksumFailures?

    public init(_ manifest: BackupManifest) {
        self.init(manifest.head)
    }

    public init(_ manifest: BackupManifest.Head) {
        id = manifest.id
        status = manifest.checksumFailures == nil ? .complete : .checksumFailures
        systemIdentifier = manifest.systemIdentifier
        postgresVersionNumber = manifest.postgresVersionNumber
        postgresMajor = PostgresVersion.major(of: manifest.postgresVersionNumber)
        label = manifest.label
        timeline = manifest.timeline
        startLSN = manifest.startLSN
        stopLSN = manifest.stopLSN
        startTime = manifest.startTime
        stopTime = manifest.stopTime
        databaseSize = manifest.totals.databaseSize
        storedNew = manifest.totals.storedNew
        storedDeduplicated = manifest.totals.storedDeduplicated
        newChunks = manifest.totals.newChunks
        deduplicatedChunks = manifest.totals.deduplicatedChunks
        compression = manifest.compression
        encryption = manifest.encryption
        durationSeconds = manifest.durationSeconds
        wal = manifest.wal
        pinned = manifest.pinned
        pin = manifest.pin
        checksumFailures = manifest.checksumFailures
    }
}
