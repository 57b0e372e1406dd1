import PGBackupRepository

/// `pgbackup pin` and `pgbackup unpin`: records the pin in the backup's `backup.json`
/// (`BackupManifest.pin`), rewritten sealed and in one atomic put (`BackupCatalog.replaceManifest`).
public struct BackupPins: Sendable {
    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// What a pin or unpin did: the backup, its pin before and after.
    public struct Change: Sendable, Hashable, Encodable {
        public var id: BackupID
        public var before: BackupManifest.PinKind?
        public var after: BackupManifest.PinKind?
    }

    /// Pins backup `id` (`full`: it and all later WAL stay; `standalone`: it and its own WAL).
    /// Pinning again with another kind changes the kind; with the same one changes nothing.
    public func pin(_ id: String, kind: BackupManifest.PinKind) async throws -> Change {
        let catalog = try await catalog(holding: id)
        var manifest = try await catalog.manifest(named: id)
        let before = manifest.pin
        if before != kind {
            manifest.pin = kind
            try await catalog.replaceManifest(manifest)
        }
        return Change(id: manifest.id, before: before, after: kind)
    }

    /// Unpins backup `id`; `RetentionError.notPinned` when it is not pinned.
    public func unpin(_ id: String) async throws -> Change {
        let catalog = try await catalog(holding: id)
        var manifest = try await catalog.manifest(named: id)
        guard let before = manifest.pin else { throw RetentionError.notPinned(id: manifest.id.description) }
        manifest.pin = nil
        try await catalog.replaceManifest(manifest)
        return Change(id: manifest.id, before: before, after: nil)
    }

    /// The catalog of the history holding backup `id` (`init --upgrade` keeps one per cluster).
    private func catalog(holding id: String) async throws -> BackupCatalog {
        let histories = try await RepositoryAccess.openHistories(settings)
        let history = if let parsed = BackupID(id) { try await RepositoryAccess.history(holding: parsed, in: histories) } else { histories[histories.count - 1] }
        return BackupCatalog(repository: history.repository)
    }
}
