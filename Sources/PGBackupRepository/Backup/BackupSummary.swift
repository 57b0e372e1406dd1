import Foundation
import PGBackupFoundations

/// One line of `pgbackup list`.
public struct BackupSummary: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        /// `backup.json` exists: the backup is whole (the catalog lists nothing else).
        case complete
    }

    public var id: BackupID
    public var status: Status
    public var label: String
    public var timeline: TimelineID
    public var startLSN: LSN
    public var stopLSN: LSN
    public var startTime: Date
    public var stopTime: Date
    public var databaseSize: Int64
    /// Bytes this backup added to the repository.
    public var storedNew: Int64
    public var pinned: Bool

    public init(_ manifest: BackupManifest) {
        id = manifest.id
        status = .complete
        label = manifest.label
        timeline = manifest.timeline
        startLSN = manifest.startLSN
        stopLSN = manifest.stopLSN
        startTime = manifest.startTime
        stopTime = manifest.stopTime
        databaseSize = manifest.totals.databaseSize
        storedNew = manifest.totals.storedNew
        pinned = manifest.pinned
    }
}
