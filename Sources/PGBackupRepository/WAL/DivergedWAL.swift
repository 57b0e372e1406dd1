import Foundation
import PGBackupFoundations

/// The record of a WAL file kept apart under `<server>/wal/diverged/<TTTTTTTT>/` because it
/// conflicts with the repository's history (`WALArchiveLayout`, "Diverged WAL"): sealed raw JSON
/// next to the file's object, which holds the offered content, sealed and compressed as
/// `compression` says. Nothing reads diverged WAL for a restore; `check` and `verify` report it.
public struct DivergedWAL: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Why the file was kept apart.
    public struct Reason: Codable, Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Codable, Sendable {
            /// The archive holds different content under the file's name.
            case conflict
            /// A segment past its timeline's end as an archived history file records it: WAL a
            /// former primary wrote after the failover.
            case beyondSwitchPoint
        }

        public var kind: Kind
        /// `conflict`: the archived copy's key and content SHA-256.
        public var archivedKey: String?
        public var archivedSHA256: SHA256Digest?
        /// `beyondSwitchPoint`: where the timeline ended, and the history file that says so.
        public var switchPoint: LSN?
        public var history: String?

        /// The archive holds `archived` (content SHA-256) under `key`.
        public static func conflict(archivedKey key: String, archived: SHA256Digest) -> Reason {
            Reason(kind: .conflict, archivedKey: key, archivedSHA256: archived)
        }

        /// The history file `history` says the segment's timeline ended at `switchPoint`.
        public static func beyondSwitchPoint(_ switchPoint: LSN, history: String) -> Reason {
            Reason(kind: .beyondSwitchPoint, switchPoint: switchPoint, history: history)
        }

        public var description: String {
            switch kind {
            case .conflict:
                "it differs from the archived copy '\(archivedKey ?? "?")' (SHA-256 \(archivedSHA256?.description ?? "?"))"
            case .beyondSwitchPoint:
                "its timeline ended at \(switchPoint?.description ?? "?") (\(history ?? "a history file")), before this segment's end"
            }
        }
    }

    /// The key of the kept object (its record is `key + ".json"`).
    public var key: String
    /// The file's PostgreSQL name (`000000010000000000000005`, `00000002.history`, …).
    public var fileName: String
    public var timeline: TimelineID
    /// SHA-256 and length of the content.
    public var sha256: SHA256Digest
    public var size: Int64
    /// How the object's content is compressed.
    public var compression: CompressionAlgorithm
    public var reason: Reason
    /// Who offered the file: "wal-push on host H from data directory D", "WAL stream from host:port".
    public var source: String
    /// When the file was first kept apart.
    public var detectedAt: Date

    public init(
        key: String, fileName: String, timeline: TimelineID, sha256: SHA256Digest, size: Int64,
        compression: CompressionAlgorithm, reason: Reason, source: String, detectedAt: Date
    ) {
        self.key = key
        self.fileName = fileName
        self.timeline = timeline
        self.sha256 = sha256
        self.size = size
        self.compression = compression
        self.reason = reason
        self.source = source
        self.detectedAt = detectedAt
    }

    /// `000000010000000000000005 kept apart as '<key>' (from <source>, <time>): <reason>`
    public var description: String {
        "\(fileName) kept apart as '\(key)' (from \(source), \(detectedAt.formatted(.iso8601))): \(reason)"
    }
}
