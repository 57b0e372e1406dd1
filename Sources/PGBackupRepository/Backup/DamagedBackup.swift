import PGBackupFoundations

/// A backup whose `backup.json` exists but cannot be used: it fails its seal, is not a backup
/// document, describes another backup, or is of a newer format. `pgbackup list` shows it as
/// damaged, `pgbackup show` explains, and a restore chooses among the other backups.
public struct DamagedBackup: Sendable, Hashable, Codable {
    public var id: BackupID
    /// The `backup.json` key.
    public var key: String
    /// What is wrong with it, in one line.
    public var problem: String

    public init(id: BackupID, key: String, problem: String) {
        self.id = id
        self.key = key
        self.problem = problem
    }

    /// The damage an error thrown while reading a `backup.json` reports, as one line; nil for
    /// errors that say nothing about the document (the store unreachable, access denied, …).
    public static func problem(in error: any Error) -> String? {
        switch error {
        case is SealError, RepositoryError.corrupt, RepositoryError.unsupportedFormat, BackupCatalogError.wrongManifest:
            return "\(error)".split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "\(error)"
        default:
            return nil
        }
    }
}
