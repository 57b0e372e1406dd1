import PGBackupFoundations
import PGBackupRepository

/// Opens the server's WAL archive the way `wal-push`, `wal-fetch` and the daemon need it.
public enum WALArchiveAccess {
    /// The WAL archive of `settings.server`: the repository must exist and be initialized
    /// (`RepositoryError.notInitialized` otherwise); the segment size comes from its
    /// `repository.json`, the compression of new objects from the settings.
    public static func open(_ settings: Settings) async throws -> WALArchive {
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings)
        let segmentSize: WALSegmentSize
        do {
            segmentSize = try WALSegmentSize(bytes: UInt64(max(0, info.walSegmentSize)))
        } catch {
            throw RepositoryError.corrupt(key: repository.layout.info, location: repository.store.location, reason: "\(error)")
        }
        return WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
    }
}
