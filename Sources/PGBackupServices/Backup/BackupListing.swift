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

    /// The complete backups of every history of the server (`init --upgrade`), oldest first.
    /// `RepositoryError.notInitialized` when the server has no repository. A damaged
    /// `backup.json` is left out (`entries` shows it).
    public func list() async throws -> [BackupSummary] {
        try await surveys().flatMap(\.backups).sorted { $0.id < $1.id }
    }

    /// Every backup with a `backup.json`, complete or damaged, of every history, oldest first.
    public func entries() async throws -> [Entry] {
        let surveys = try await surveys()
        return surveys.flatMap { $0.backups.map(Entry.complete) + $0.damaged.map(Entry.damaged) }.sorted { $0.id < $1.id }
    }

    /// One complete backup in full, from whichever history holds it;
    /// `BackupCatalogError.notFound` for an unknown id, `BackupCatalogError.damaged` for a
    /// damaged `backup.json`.
    public func show(_ id: String) async throws -> BackupManifest {
        let histories = try await RepositoryAccess.openHistories(settings)
        let history = if let parsed = BackupID(id) { try await RepositoryAccess.history(holding: parsed, in: histories) } else { histories[histories.count - 1] }
        return try await BackupCatalog(repository: history.repository).manifest(named: id)
    }

    /// The gaps the daemon recorded in the WAL archive (`WALGap`) of every history, oldest first.
    public func gaps() async throws -> [WALGap] {
        try await gapsByHistory().flatMap(\.gaps)
    }

    /// The recorded gaps of each history, with its system identifier, oldest history first.
    public func gapsByHistory() async throws -> [(systemIdentifier: SystemIdentifier, gaps: [WALGap])] {
        var result: [(systemIdentifier: SystemIdentifier, gaps: [WALGap])] = []
        for (repository, info) in try await RepositoryAccess.openHistories(settings) {
            let segmentSize = info.walSegmentSize
            result.append((info.systemIdentifier, try await WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression).gaps()))
        }
        return result
    }

    /// The recorded gaps that point-in-time recovery from a backup starting at `start` would
    /// have to cross: those ending after it.
    public static func gaps(_ gaps: [WALGap], after start: LSN) -> [WALGap] {
        gaps.filter { $0.endLSN > start }
    }

    /// The recorded gaps that point-in-time recovery from `backup` would have to cross: its own
    /// history's (`gapsByHistory`), ending after its start.
    public static func gaps(_ byHistory: [(systemIdentifier: SystemIdentifier, gaps: [WALGap])], of backup: BackupSummary) -> [WALGap] {
        gaps(byHistory.first { $0.systemIdentifier == backup.systemIdentifier }?.gaps ?? [], after: backup.startLSN)
    }

    /// Each backup's newest verification record (`verify-restore`), of every history; empty
    /// when none can be read (a damaged record must not hide the backups).
    public func lastVerifications() async -> [BackupID: VerificationRecord] {
        guard let histories = try? await RepositoryAccess.openHistories(settings) else { return [:] }
        var records: [BackupID: VerificationRecord] = [:]
        for (repository, _) in histories {
            records.merge((try? await VerificationLog(repository: repository).latest().byBackup) ?? [:]) { $1 }
        }
        return records
    }

    private func surveys() async throws -> [(backups: [BackupSummary], damaged: [DamagedBackup])] {
        var surveys: [(backups: [BackupSummary], damaged: [DamagedBackup])] = []
        for (repository, _) in try await RepositoryAccess.openHistories(settings) {
            surveys.append(try await BackupCatalog(repository: repository).survey())
        }
        return surveys
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
