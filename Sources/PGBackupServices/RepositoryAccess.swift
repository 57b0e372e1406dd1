import PGBackupRepository
import PGBackupStorage

/// The one way services open the configured repository: the store (`StoreFactory`), the
/// configured key (`Settings.encryptionKey()`, exit 2 when the file cannot be used) and
/// `Repository.open`'s fail-closed decisions (plaintext or encrypted, right key or a clear error).
public enum RepositoryAccess {
    /// The server's repository, opened with the configured key.
    public static func open(_ settings: Settings) async throws -> Repository {
        try await openReadingInfo(settings).repository
    }

    /// `open`, with the `repository.json` it read (`RepositoryError.notInitialized` when none).
    public static func openReadingInfo(_ settings: Settings) async throws -> (repository: Repository, info: RepositoryInfo) {
        let store = try StoreFactory.open(settings)
        let opened = try await Repository.openReadingInfo(store: store, server: settings.server, key: try settings.encryptionKey())
        guard let info = opened.info else { throw RepositoryError.notInitialized(server: settings.server, location: store.location) }
        return (opened.repository, info)
    }
}
