import PGBackupFoundations
import PGBackupRepository

/// Opens the server's WAL archive the way `wal-push`, `wal-fetch` and the daemon need it.
public enum WALArchiveAccess {
    /// The WAL archive of `settings.server`: the repository must exist and be initialized
    /// (`RepositoryError.notInitialized` otherwise); the segment size comes from its
    /// `repository.json`, the compression of new objects from the settings.
    /// `systemIdentifier`: the history of that cluster (`restore` of a backup taken before
    /// `init --upgrade`); nil: the newest, the current cluster's.
    public static func open(_ settings: Settings, systemIdentifier: SystemIdentifier? = nil) async throws -> WALArchive {
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings, systemIdentifier: systemIdentifier)
        let segmentSize = info.walSegmentSize
        return WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
    }
}
