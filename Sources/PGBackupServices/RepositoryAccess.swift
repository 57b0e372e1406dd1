import PGBackupFoundations
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
    /// After `init --upgrade` this is the newest history, the current cluster's: what the
    /// daemon, `backup`, `wal-push`, `wal-fetch` and `check` act on.
    public static func openReadingInfo(_ settings: Settings) async throws -> (repository: Repository, info: RepositoryInfo) {
        let store = try StoreFactory.open(settings)
        let opened = try await Repository.openReadingInfo(store: store, server: settings.server, key: try settings.encryptionKey())
        guard let info = opened.info else { throw RepositoryError.notInitialized(server: settings.server, location: store.location) }
        return (opened.repository, info)
    }

    /// Every history of the server, oldest first (`Repository.openHistories`): what the
    /// catalog-wide commands span (`list`, `show`, `restore`, `verify`, `verify-restore`,
    /// `retention`, `pin`).
    public static func openHistories(_ settings: Settings) async throws -> [(repository: Repository, info: RepositoryInfo)] {
        try await Repository.openHistories(store: try StoreFactory.open(settings), server: settings.server, key: try settings.encryptionKey())
    }

    /// The history of the cluster `systemIdentifier` (`wal-fetch --system-identifier`, written
    /// by `restore` into `restore_command`); nil: the newest.
    public static func openReadingInfo(_ settings: Settings, systemIdentifier: SystemIdentifier?) async throws -> (repository: Repository, info: RepositoryInfo) {
        guard let systemIdentifier else { return try await openReadingInfo(settings) }
        let histories = try await openHistories(settings)
        guard let history = histories.first(where: { $0.info.systemIdentifier == systemIdentifier }) else {
            throw RepositoryError.corrupt(
                key: RepositoryLayout(server: settings.server).upgradesPrefix, location: histories[0].repository.store.location,
                reason: "server '\(settings.server)' has no history of system \(systemIdentifier) (it has \(histories.map(\.info.systemIdentifier.description).joined(separator: ", ")))")
        }
        return history
    }

    /// The history holding backup `id`, searched newest first; the newest when none does (its
    /// catalog then reports the unknown id as usual).
    public static func history(holding id: BackupID, in histories: [(repository: Repository, info: RepositoryInfo)]) async throws -> (repository: Repository, info: RepositoryInfo) {
        for history in histories.reversed() where histories.count > 1 {
            let keys = try await history.repository.store.list(prefix: BackupLayout(repository: history.repository.layout).manifestKey(id))
            if !keys.isEmpty { return history }
        }
        return histories[histories.count - 1]
    }
}
