import PGBackupFoundations
import PGBackupRepository

/// `pgbackup list` and `pgbackup show`: the complete backups of the server.
public struct BackupListing: Sendable {
    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// One line of `pgbackup list`: a complete backup, or one whose `backup.json` is damaged.
    /// In JSON a complete one is its `BackupSummary`; a damaged one is
    /// `{"id", "status": "damaged", "key", "problem"}`.
    public enum Entry: Sendable, Encodable {
        case complete(BackupSummary)
        case damaged(DamagedBackup)

        public var id: BackupID {
            switch self {
            case .complete(let summary): summary.id
            case .damaged(let damaged): damaged.id
            }
        }

        private enum Keys: String, CodingKey { case id, status, key, problem }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .complete(let summary):
                try summary.encode(to: encoder)
            case .damaged(let damaged):
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(damaged.id, forKey: .id)
                try container.encode("damaged", forKey: .status)
                try container.encode(damaged.key, forKey: .key)
                try container.encode(damaged.problem, forKey: .problem)
            }
        }
    }

    /// The complete backups, oldest first. `RepositoryError.notInitialized` when the server has
    /// no repository. A damaged `backup.json` is left out (`entries` shows it).
    public func list() async throws -> [BackupSummary] {
        try await catalog().survey().backups
    }

    /// Every backup with a `backup.json`, complete or damaged, oldest first.
    public func entries() async throws -> [Entry] {
        let survey = try await catalog().survey()
        return (survey.backups.map(Entry.complete) + survey.damaged.map(Entry.damaged)).sorted { $0.id < $1.id }
    }

    /// One complete backup in full; `BackupCatalogError.notFound` for an unknown id,
    /// `BackupCatalogError.damaged` for a damaged `backup.json`.
    public func show(_ id: String) async throws -> BackupManifest {
        try await catalog().manifest(named: id)
    }

    /// The gaps the daemon recorded in the WAL archive (`WALGap`), oldest first.
    public func gaps() async throws -> [WALGap] {
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings)
        let segmentSize = try WALSegmentSize(bytes: UInt64(info.walSegmentSize))
        return try await WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression).gaps()
    }

    /// The recorded gaps that point-in-time recovery from a backup starting at `start` would
    /// have to cross: those ending after it.
    public static func gaps(_ gaps: [WALGap], after start: LSN) -> [WALGap] {
        gaps.filter { $0.endLSN > start }
    }

    /// Each backup's newest verification record (`verify-restore`); empty when none can be read
    /// (a damaged record must not hide the backups).
    public func lastVerifications() async -> [BackupID: VerificationRecord] {
        guard let repository = try? await RepositoryAccess.open(settings) else { return [:] }
        return (try? await VerificationLog(repository: repository).latest().byBackup) ?? [:]
    }

    private func catalog() async throws -> BackupCatalog {
        BackupCatalog(repository: try await RepositoryAccess.openReadingInfo(settings).repository)
    }
}

/// A backup (summary or manifest) as `--json` prints it, with the recorded WAL gaps that PITR
/// from it cannot cross under `walGaps` (empty when none).
public struct WithWALGaps<Base: Encodable & Sendable>: Encodable, Sendable {
    public var base: Base
    public var walGaps: [WALGap]
    /// The backup's newest `verify-restore` record (null when never verified).
    public var lastVerification: VerificationRecord?

    public init(_ base: Base, walGaps: [WALGap], lastVerification: VerificationRecord? = nil) {
        self.base = base
        self.walGaps = walGaps
        self.lastVerification = lastVerification
    }

    private enum CodingKeys: String, CodingKey { case walGaps, lastVerification }

    public func encode(to encoder: any Encoder) throws {
        try base.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(walGaps, forKey: .walGaps)
        try container.encode(lastVerification, forKey: .lastVerification)
    }
}
