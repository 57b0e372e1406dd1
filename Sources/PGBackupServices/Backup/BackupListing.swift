import PGBackupRepository

/// `pgbackup list` and `pgbackup show`: the complete backups of the server.
public struct BackupListing: Sendable {
    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// The complete backups, oldest first. `RepositoryError.notInitialized` when the server has
    /// no repository.
    public func list() async throws -> [BackupSummary] {
        try await catalog().list()
    }

    /// One complete backup in full; `BackupCatalogError.notFound` for an unknown id.
    public func show(_ id: String) async throws -> BackupManifest {
        try await catalog().manifest(named: id)
    }

    private func catalog() async throws -> BackupCatalog {
        let repository = Repository(store: try StoreFactory.open(settings), server: settings.server)
        _ = try await repository.info()
        return BackupCatalog(repository: repository)
    }
}
