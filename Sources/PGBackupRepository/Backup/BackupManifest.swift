import Foundation
import PGBackupFoundations

/// `<server>/backups/<id>/backup.json`: everything a restore needs to know about one base backup
/// (DESIGN.md, "Repository format"). Encoded with `RepositoryJSON` (sorted keys, ISO 8601 UTC
/// times) and sealed raw (`ObjectSeal`, 48 bytes after the JSON: `head -c -48 backup.json`
/// is the document). Written last, by `BackupCatalog.commit`: a backup without it does not exist.
///
/// Optional fields are left out of the JSON when absent.
public struct BackupManifest: Codable, Sendable, Hashable {
    /// The manifest format; readers refuse newer versions.
    public var formatVersion: Int
    public var id: BackupID
    public var server: String
    /// `pg_control`'s database system identifier, as decimal text (JSON numbers lose 64-bit precision).
    public var systemIdentifier: SystemIdentifier
    /// `server_version_num`, e.g. 150018.
    public var postgresVersionNumber: Int
    /// The timeline the backup started on.
    public var timeline: TimelineID
    /// Where replay starts (the backup's checkpoint redo point) and where the backup becomes
    /// consistent: restorable from `stopLSN` on, not before (DESIGN.md, "Restorable means consistent").
    public var startLSN: LSN
    public var stopLSN: LSN
    public var startTime: Date
    public var stopTime: Date
    public var label: String
    /// How the chunks written by this backup are compressed (chunks it shares with earlier
    /// backups keep theirs).
    public var compression: Compression
    /// `none` until client-side encryption exists.
    public var encryption: String
    /// How files were cut into chunks and packs.
    public var chunking: ChunkingPolicy
    /// Tablespaces other than the main data directory.
    public var tablespaces: [Tablespace]
    /// Every file, directory and symbolic link, in the order of the backup stream.
    public var files: [File]
    public var totals: Totals
    /// PostgreSQL's own `backup_manifest`, stored next to this document; nil if the server sent none.
    public var serverManifest: StoredObject?
    /// The WAL a restore needs at least: from the segment holding `startLSN` to the one `stopLSN` ends in.
    public var wal: WALRange
    /// Wall-clock seconds the backup took, from the start of `BASE_BACKUP` to the commit.
    public var durationSeconds: Double
    /// Retention: a pinned backup is never deleted by the retention policy.
    public var pinned: Bool
    /// How it is pinned when `pinned` (`pgbackup pin ID [--standalone]`); absent in documents
    /// written before pins had kinds, and for a plain pin: `pin` reads those as `.full`.
    public var pinKind: PinKind? = nil
    /// The pages whose checksum the server found wrong while it sent the backup
    /// (`PageChecksumFailures`): the backup is complete and restorable, with those pages as
    /// the server read them. Absent when the server reported none, and in documents written
    /// before pgbackup kept such backups.
    public var checksumFailures: PageChecksumFailures? = nil

    /// What `pgbackup pin` records: `full` keeps the backup and all WAL after it, `standalone`
    /// the backup and only its own WAL.
    public enum PinKind: String, Codable, Sendable, Hashable {
        case full, standalone
    }

    /// The backup's pin, nil when not pinned.
    public var pin: PinKind? {
        get { pinned ? (pinKind ?? .full) : nil }
        set {
            pinned = newValue != nil
            pinKind = newValue == .standalone ? .standalone : nil
        }
    }

    public static let currentFormatVersion = 1

    public init(
        id: BackupID, server: String, systemIdentifier: SystemIdentifier, postgresVersionNumber: Int, timeline: TimelineID,
        startLSN: LSN, stopLSN: LSN, startTime: Date, stopTime: Date, label: String, compression: Compression,
        encryption: String = "none", chunking: ChunkingPolicy, tablespaces: [Tablespace], files: [File],
        totals: Totals, serverManifest: StoredObject?, wal: WALRange, durationSeconds: Double, pinned: Bool = false
    ) {
        self.formatVersion = Self.currentFormatVersion
        self.id = id
        self.server = server
        self.systemIdentifier = systemIdentifier
        self.postgresVersionNumber = postgresVersionNumber
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.startTime = startTime
        self.stopTime = stopTime
        self.label = label
        self.compression = compression
        self.encryption = encryption
        self.chunking = chunking
        self.tablespaces = tablespaces
        self.files = files
        self.totals = totals
        self.serverManifest = serverManifest
        self.wal = wal
        self.durationSeconds = durationSeconds
        self.pinned = pinned
    }

    /// A tablespace outside the main data directory (`pg_tblspc/<oid>` links to `location`).
    public struct Tablespace: Codable, Sendable, Hashable {
        public var oid: UInt32
        /// Its directory on the backed-up server.
        public var location: String
        public var name: String?
        public init(oid: UInt32, location: String, name: String? = nil) {
            self.oid = oid
            self.location = location
            self.name = name
        }
    }

    public enum FileType: String, Codable, Sendable, Hashable {
        case file, directory, symlink
    }

    /// One entry of the backup. Its content is either `chunks` (a big file), `packed` (a small
    /// file inside a pack), or none (an empty file, a directory, a symbolic link).
    public struct File: Codable, Sendable, Hashable {
        /// Relative to its tablespace's root: the data directory for `tablespace == nil`, else
        /// the tablespace's directory (what PostgreSQL's tar for that tablespace holds).
        public var path: String
        /// The tablespace's OID; nil for the main data directory.
        public var tablespace: UInt32?
        public var type: FileType
        /// Permission bits, as in the tar header (e.g. 0o600 = 384).
        public var mode: UInt32
        public var mtime: Date
        /// Bytes of content (0 for directories and links).
        public var size: Int64
        /// SHA-256 of the whole content, for regular files.
        public var sha256: SHA256Digest?
        /// The chunks holding the content, in order of offset.
        public var chunks: [Chunk]?
        /// Where the content sits inside a pack.
        public var packed: PackedContent?
        /// A symbolic link's target.
        public var linkTarget: String?

        public init(
            path: String, tablespace: UInt32? = nil, type: FileType, mode: UInt32, mtime: Date, size: Int64,
            sha256: SHA256Digest? = nil, chunks: [Chunk]? = nil, packed: PackedContent? = nil, linkTarget: String? = nil
        ) {
            self.path = path
            self.tablespace = tablespace
            self.type = type
            self.mode = mode
            self.mtime = mtime
            self.size = size
            self.sha256 = sha256
            self.chunks = chunks
            self.packed = packed
            self.linkTarget = linkTarget
        }
    }

    /// One chunk of a file: the file's bytes `offset ..< offset + size` are chunk `sha256`.
    public struct Chunk: Codable, Sendable, Hashable {
        public var offset: Int64
        public var size: Int64
        public var sha256: SHA256Digest
        public init(offset: Int64, size: Int64, sha256: SHA256Digest) {
            self.offset = offset
            self.size = size
            self.sha256 = sha256
        }
    }

    /// A small file's place in a pack: bytes `offset ..< offset + file.size` of the pack chunk
    /// `pack` (which is `packSize` bytes long).
    public struct PackedContent: Codable, Sendable, Hashable {
        public var pack: SHA256Digest
        public var packSize: Int64
        public var offset: Int64
        public init(pack: SHA256Digest, packSize: Int64, offset: Int64) {
            self.pack = pack
            self.packSize = packSize
            self.offset = offset
        }
    }

    /// Sizes, for `list` and for judging deduplication.
    public struct Totals: Codable, Sendable, Hashable {
        /// Bytes of file content backed up.
        public var databaseSize: Int64
        /// Chunks (and packs) this backup uploaded, and their stored bytes.
        public var newChunks: Int
        public var storedNew: Int64
        /// Chunks (and packs) it found stored already, and their stored bytes.
        public var deduplicatedChunks: Int
        public var storedDeduplicated: Int64
        public init(databaseSize: Int64, newChunks: Int, storedNew: Int64, deduplicatedChunks: Int, storedDeduplicated: Int64) {
            self.databaseSize = databaseSize
            self.newChunks = newChunks
            self.storedNew = storedNew
            self.deduplicatedChunks = deduplicatedChunks
            self.storedDeduplicated = storedDeduplicated
        }

        /// Adds a stored chunk to the totals (new or deduplicated, as it says).
        public mutating func add(_ chunk: ChunkRef) {
            if chunk.new {
                newChunks += 1
                storedNew += chunk.storedSize
            } else {
                deduplicatedChunks += 1
                storedDeduplicated += chunk.storedSize
            }
        }
    }

    /// A sealed object of the backup itself (under `backups/<id>/`).
    public struct StoredObject: Codable, Sendable, Hashable {
        public var key: String
        /// Length and SHA-256 of the content, and the bytes it takes stored.
        public var size: Int64
        public var sha256: SHA256Digest
        public var storedSize: Int64
        public var compression: CompressionAlgorithm
        public init(key: String, size: Int64, sha256: SHA256Digest, storedSize: Int64, compression: CompressionAlgorithm) {
            self.key = key
            self.size = size
            self.sha256 = sha256
            self.storedSize = storedSize
            self.compression = compression
        }
    }

    /// The segments from the one holding the start LSN to the one the stop LSN ends in
    /// (`XLByteToPrevSeg`, as PostgreSQL names a backup's stop segment).
    public struct WALRange: Codable, Sendable, Hashable {
        public var start: String
        public var stop: String
        public init(start: String, stop: String) {
            self.start = start
            self.stop = stop
        }

        /// The range from `start` to `stop` on `timeline`.
        public init(timeline: TimelineID, start: LSN, stop: LSN, segmentSize: WALSegmentSize) {
            self.start = WALSegmentName(timeline: timeline, containing: start, segmentSize: segmentSize).name
            let first = WALSegmentName(timeline: timeline, containing: start, segmentSize: segmentSize)
            let last = stop > start ? WALSegmentName(timeline: timeline, endingAt: stop, segmentSize: segmentSize) : nil
            self.stop = (last ?? first).name
        }
    }
}
