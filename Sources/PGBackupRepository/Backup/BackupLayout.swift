import PGBackupFoundations

/// The keys of base backups: shared chunks and per-backup objects. Pure.
///
/// ```
/// <server>/chunks/<ab>/<sha256>.<zst|gz|raw>        content-addressed chunks and packs, shared
/// <server>/backups/<id>/backup_manifest.<ext>       PostgreSQL's own backup_manifest, sealed
/// <server>/backups/<id>/in-progress.json            while the backup runs: who takes it
/// <server>/backups/<id>/backup.json                 the manifest, sealed raw, written LAST
/// <server>/locks/backup.json                        the backup lock (`RepositoryLock`)
/// ```
///
/// `<sha256>` is the chunk's name (`ChunkNaming`): the SHA-256 of its *uncompressed* content in
/// lower-case hex, or in an encrypted repository a keyed HMAC of that digest; `<ab>`
/// its first two hex digits (256 directories, so no directory of a `file://` repository grows
/// past a few thousand entries for a terabyte of data). Small files are not stored on their own:
/// they are packed into chunks (see `ChunkingPlan`).
public struct BackupLayout: Hashable, Sendable {
    public let repository: RepositoryLayout

    public init(repository: RepositoryLayout) { self.repository = repository }

    /// `<server>/chunks/<ab>/<name>.<ext>`, `name` from `Repository.chunkNaming` (not the
    /// content digest itself, unless the repository is plaintext).
    public func chunkKey(_ name: SHA256Digest, _ algorithm: CompressionAlgorithm) -> String {
        let hex = name.description
        return repository.chunksPrefix + hex.prefix(2) + "/" + hex + "." + algorithm.fileExtension
    }

    /// The chunk name and compression a key under `chunks/` spells (`<ab>/<name>.<ext>`); nil for
    /// any key that is not a chunk's.
    public func chunk(ofKey key: String) -> (name: SHA256Digest, algorithm: CompressionAlgorithm)? {
        guard key.hasPrefix(repository.chunksPrefix) else { return nil }
        let file = key.split(separator: "/").last ?? ""
        guard let dot = file.firstIndex(of: "."), let name = SHA256Digest(hex: file[..<dot]),
              let algorithm = try? CompressionAlgorithm(fileExtension: file[file.index(after: dot)...])
        else { return nil }
        return (name, algorithm)
    }

    /// `<server>/backups/<id>/`: every object of one backup starts with it.
    public func backupPrefix(_ id: BackupID) -> String { repository.backupsPrefix + id.description + "/" }

    /// `<server>/backups/<id>/backup.json`
    public func manifestKey(_ id: BackupID) -> String { backupPrefix(id) + "backup.json" }

    /// `<server>/backups/<id>/in-progress.json`: the backup is being taken (its lock owner).
    public func inProgressKey(_ id: BackupID) -> String { backupPrefix(id) + "in-progress.json" }

    /// `<server>/backups/<id>/backup_manifest.<ext>`
    public func serverManifestKey(_ id: BackupID, _ algorithm: CompressionAlgorithm) -> String {
        backupPrefix(id) + "backup_manifest." + algorithm.fileExtension
    }

    /// The backup a key under `backups/` belongs to, or nil for any other key.
    public func backupID(ofKey key: String) -> BackupID? {
        guard key.hasPrefix(repository.backupsPrefix) else { return nil }
        let rest = key.dropFirst(repository.backupsPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return try? BackupID(parsing: rest[..<slash])
    }
}
