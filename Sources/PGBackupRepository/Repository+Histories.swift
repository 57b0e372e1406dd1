import Foundation
import PGBackupFoundations
import PGBackupStorage

/// One history of a server: the backups and WAL of one PostgreSQL cluster (one system
/// identifier). A server has one until `init --upgrade` begins another after `pg_upgrade`.
public struct RepositoryHistory: Sendable, Hashable {
    /// 0 for the first history, then the `RepositoryUpgrade.sequence` that began it.
    public var sequence: Int
    public var layout: RepositoryLayout
    /// The history's own `repository.json`.
    public var info: RepositoryInfo
}

/// `<server>/upgrades/<sequence>.json`: the record `init --upgrade` writes (create-if-absent,
/// never rewritten) when a pg_upgraded cluster begins a new history of the server, under its own
/// root (`RepositoryLayout.upgradedRoot`). Plaintext even in an encrypted repository, like
/// `repository.json`: it names roots and clusters, nothing secret, and must be read before the
/// repository is opened.
public struct RepositoryUpgrade: Codable, Sendable, Hashable {
    /// 1 for the first upgrade, then 2, …: the order of the histories.
    public var sequence: Int
    public var server: String
    /// The new history's root (`<server>@<system identifier>`).
    public var root: String
    public var systemIdentifier: SystemIdentifier
    public var postgresVersionNumber: Int
    /// The history it follows: its root, cluster and PostgreSQL version.
    public var previousRoot: String
    public var previousSystemIdentifier: SystemIdentifier
    public var previousPostgresVersionNumber: Int
    public var upgradedAt: Date
    /// The pgbackup version that wrote it.
    public var createdBy: String

    /// `<server>/upgrades/00000001.json`: fixed width, so keys sort in sequence order.
    public static func key(server: String, sequence: Int) -> String {
        let digits = String(sequence)
        return RepositoryLayout(server: server).upgradesPrefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".json"
    }
}

extension RepositoryInfo {
    /// The major version: 16 for 160014.
    public var postgresMajor: Int { PostgresVersion.major(of: postgresVersionNumber) }

    /// Whether another cluster (another system identifier) of `versionNumber` is pg_upgrade's
    /// new cluster rather than a different one: its major is newer than the repository's.
    public func isUpgrade(to versionNumber: Int?) -> Bool {
        versionNumber.map { PostgresVersion.major(of: $0) > postgresMajor } ?? false
    }
}

extension Repository {
    /// The server's histories in the raw `store`, oldest first: the first (`<server>/`), then
    /// one per `RepositoryUpgrade` record. Empty when the server has no repository. A record
    /// whose root has no `repository.json` is `RepositoryError.corrupt` (`beginHistory` writes
    /// the root's first).
    public static func histories(store: any ObjectStore, server: String) async throws -> [RepositoryHistory] {
        let first = Repository(store: store, server: server)
        guard let info = try await first.infoIfPresent() else { return [] }
        var histories = [RepositoryHistory(sequence: 0, layout: first.layout, info: info)]
        let records = try await store.list(prefix: first.layout.upgradesPrefix)
            .map(\.key).filter { $0.hasSuffix(".json") }.sorted()
        for key in records {
            let record: RepositoryUpgrade
            do {
                record = try RepositoryJSON.decode(RepositoryUpgrade.self, from: try await store.get(key, limit: 1 << 20))
            } catch let error as StorageError {
                throw error
            } catch {
                throw RepositoryError.corrupt(key: key, location: store.location, reason: "not an upgrade record (\(error))")
            }
            let layout = RepositoryLayout(server: server, root: record.root)
            guard let info = try await Repository(store: store, layout: layout).infoIfPresent() else {
                throw RepositoryError.corrupt(key: key, location: store.location, reason: "it names the history '\(record.root)', which has no repository.json")
            }
            histories.append(RepositoryHistory(sequence: record.sequence, layout: layout, info: info))
        }
        return histories
    }

    /// Every history of the server, oldest first, each opened with `key` as `open` decides.
    /// `RepositoryError.notInitialized` when the server has no repository.
    public static func openHistories(
        store: any ObjectStore, server: String, key: EncryptionKey?
    ) async throws -> [(repository: Repository, info: RepositoryInfo)] {
        let histories = try await histories(store: store, server: server)
        guard !histories.isEmpty else {
            if let key { throw RepositoryError.notInitializedWithKey(server: server, location: store.location, keyID: key.id) }
            throw RepositoryError.notInitialized(server: server, location: store.location)
        }
        return try histories.map { (try Repository(store: store, layout: $0.layout).opened($0.info, key: key), $0.info) }
    }

    /// `init --upgrade`: begins a new history of the server for the cluster `info` describes
    /// (pg_upgrade's new cluster), leaving every older one as it is. Writes the new root's
    /// `repository.json` (encrypted as the repository is, under its own data key wrapped by
    /// `key`), then the `RepositoryUpgrade` record, both create-if-absent. Refuses
    /// (`RepositoryError.upgradeRefused`) a cluster whose history exists already, or an older
    /// major than the newest history's; the key must open the newest history.
    public static func beginHistory(
        store: any ObjectStore, info: RepositoryInfo, key: EncryptionKey?, createdBy: String, now: Date = Date()
    ) async throws -> (repository: Repository, upgrade: RepositoryUpgrade) {
        let server = info.server
        let histories = try await histories(store: store, server: server)
        guard let newest = histories.last else {
            throw RepositoryError.upgradeRefused(
                server: server, location: store.location, reason: "the server has no repository yet, so there is nothing to upgrade",
                hint: "run `pgbackup init` (without --upgrade) to create it")
        }
        if let same = histories.first(where: { $0.info.systemIdentifier == info.systemIdentifier }) {
            let reason = same == newest
                ? "the repository already belongs to this cluster (system \(info.systemIdentifier), PostgreSQL \(newest.info.postgresMajor)): there is nothing to upgrade"
                : "system \(info.systemIdentifier) is an older history of this server (PostgreSQL \(same.info.postgresMajor)), not a successor of system \(newest.info.systemIdentifier)"
            throw RepositoryError.upgradeRefused(
                server: server, location: store.location, reason: reason,
                hint: same == newest ? "run `pgbackup init` (without --upgrade) to confirm it" : "point PGBACKUP_CONNINFO at the upgraded cluster")
        }
        guard info.postgresMajor >= newest.info.postgresMajor else {
            throw RepositoryError.upgradeRefused(
                server: server, location: store.location,
                reason: "the server is PostgreSQL \(info.postgresMajor), older than the repository's PostgreSQL \(newest.info.postgresMajor) (system \(newest.info.systemIdentifier)); pg_upgrade only goes up",
                hint: "this is a different cluster: point PGBACKUP_REPO or --server at its own repository")
        }
        // The key must open what exists: a new history is encrypted exactly when the repository is.
        _ = try Repository(store: store, layout: newest.layout).opened(newest.info, key: key)
        let layout = RepositoryLayout(server: server, root: RepositoryLayout.upgradedRoot(server: server, systemIdentifier: info.systemIdentifier))
        let (repository, _) = try await initialize(store: store, info: info, key: key, layout: layout)
        let upgrade = RepositoryUpgrade(
            sequence: newest.sequence + 1, server: server, root: layout.root, systemIdentifier: info.systemIdentifier,
            postgresVersionNumber: info.postgresVersionNumber, previousRoot: newest.layout.root,
            previousSystemIdentifier: newest.info.systemIdentifier, previousPostgresVersionNumber: newest.info.postgresVersionNumber,
            upgradedAt: now, createdBy: createdBy)
        do {
            try await store.putIfAbsent(RepositoryUpgrade.key(server: server, sequence: upgrade.sequence), bytes: try RepositoryJSON.encode(upgrade))
        } catch StorageError.alreadyExists {
            // A concurrent `init --upgrade` recorded this sequence first: decide on what it wrote.
            return try await beginHistory(store: store, info: info, key: key, createdBy: createdBy, now: now)
        }
        return (repository, upgrade)
    }
}
