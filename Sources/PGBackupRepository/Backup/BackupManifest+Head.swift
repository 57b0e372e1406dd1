import Foundation
import PGBackupFoundations

/// A `backup.json` document decoded far enough to know which backup it describes.
protocol IdentifiedManifest {
    var id: BackupID { get }
}

extension BackupManifest: IdentifiedManifest {
    /// What `BackupSummary` needs of a manifest: every field but the file list, the tablespaces
    /// and the server manifest's record. Decodes from a whole `backup.json` (the keys are
    /// `BackupManifest`'s own) without building its file list, which is almost all of it.
    public struct Head: Decodable, Sendable, Hashable, IdentifiedManifest {
        public var id: BackupID
        /// The cluster it was taken from (a server has several after `init --upgrade`).
        public var systemIdentifier: SystemIdentifier
        public var postgresVersionNumber: Int
        public var label: String
        public var timeline: TimelineID
        public var startLSN: LSN
        public var stopLSN: LSN
        public var startTime: Date
        public var stopTime: Date
        public var compression: Compression
        public var encryption: String
        public var totals: Totals
        public var wal: WALRange
        public var durationSeconds: Double
        public var pinned: Bool
        public var pinKind: PinKind?
        public var checksumFailures: PageChecksumFailures?

        /// As `BackupManifest.pin`.
        public var pin: PinKind? { pinned ? (pinKind ?? .full) : nil }
    }

    /// This manifest's head.
    public var head: Head {
        Head(
            id: id, systemIdentifier: systemIdentifier, postgresVersionNumber: postgresVersionNumber, label: label, timeline: timeline, startLSN: startLSN, stopLSN: stopLSN, startTime: startTime,
            stopTime: stopTime, compression: compression, encryption: encryption, totals: totals, wal: wal,
            durationSeconds: durationSeconds, pinned: pinned, pinKind: pinKind,
            checksumFailures: checksumFailures)
    }
}
