/// Why a catalog operation was refused. Descriptions follow "unable to <verb> '<object>': <cause>".
public enum BackupCatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No complete backup with that id (an incomplete one does not exist either).
    case notFound(id: String, server: String)
    /// `commit` of an id whose `backup.json` exists already: backups are immutable.
    case alreadyCommitted(id: String, key: String)
    /// A manifest that belongs to another server, or is stored under another id.
    case wrongManifest(key: String, reason: String)
    /// The backup's `backup.json` exists but cannot be used (`DamagedBackup`).
    case damaged(id: String, key: String, problem: String)

    public var description: String {
        switch self {
        case let .notFound(id, server):
            "backup '\(id)' does not exist for server '\(server)'; `pgbackup list` shows the backups"
        case let .alreadyCommitted(id, key):
            "unable to commit backup '\(id)': '\(key)' exists already (a backup is written once)"
        case let .wrongManifest(key, reason):
            "unable to use '\(key)': \(reason)"
        case let .damaged(id, key, problem):
            "unable to use backup '\(id)': its manifest '\(key)' is damaged: \(problem)"
                + "\nHINT: this backup cannot be restored, and the other backups are not affected (a restore chooses among them); "
                + "restore '\(key)' from another copy of the repository if there is one, `pgbackup verify` checks the rest"
        }
    }
}
