import PGBackupStorage

/// Changing and removing complete backups: `pgbackup pin`/`unpin` and retention.
extension BackupCatalog {
    /// Rewrites the `backup.json` of a backup that exists (a pin changed): sealed, in one atomic
    /// put, as `commit` writes it, so a reader sees the old document or the new one, never a mix.
    /// `BackupCatalogError.notFound` when the backup does not exist (it is never created here).
    public func replaceManifest(_ manifest: BackupManifest) async throws {
        let key = layout.manifestKey(manifest.id)
        guard manifest.server == layout.repository.server else {
            throw BackupCatalogError.wrongManifest(
                key: key, reason: "the manifest is of server '\(manifest.server)', not '\(layout.repository.server)'")
        }
        guard try await store.exists(key) else {
            throw BackupCatalogError.notFound(id: manifest.id.description, server: layout.repository.server)
        }
        _ = try await objects.put(key: key, content: try RepositoryJSON.encode(manifest), compression: .none)
    }

    /// Removes a complete backup: its `backup.json` FIRST (the backup stops existing at once),
    /// then its own objects under `backups/<id>/`. Chunks are not touched (they are shared; the
    /// chunk sweep removes those no remaining manifest references). If this stops half-way, what
    /// is left has no `backup.json`: an incomplete backup that `cleanupIncomplete` removes.
    /// Returns the keys removed after the manifest.
    @discardableResult
    public func removeBackup(_ id: BackupID) async throws -> [String] {
        try await store.delete([layout.manifestKey(id)])
        let rest = try await store.list(prefix: layout.backupPrefix(id)).map(\.key)
        if !rest.isEmpty { try await store.delete(rest) }
        return rest
    }
}
