import PGBackupRepository
import PGBackupStorage

/// The one way services open the configured repository: the store (`StoreFactory`), the
/// configured key (`Settings.encryptionKey()`, exit 2 when the file cannot be used) and
/// `Repository.open`'s fail-closed decisions (plaintext or encrypted, right key or a clear error).
public enum RepositoryAccess {
    /// The server's repository, opened with the configured key.
    public static func open(_ settings: Settings) async throws -> Repository {
        let store = try StoreFactory.open(settings)
        return try await Repository.open(store: store, server: settings.server, key: try settings.encryptionKey())
    }
}
