import PGBackupFoundations

/// Why the repository cannot be used as asked. Descriptions say what to do next.
public enum RepositoryError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No `repository.json` for the server.
    case notInitialized(server: String, location: String)
    /// The repository holds another cluster's backups.
    case systemIdentifierMismatch(server: String, location: String, repository: SystemIdentifier, cluster: SystemIdentifier)
    /// The server is another cluster on a newer major than the repository's newest history: most
    /// likely the same cluster after `pg_upgrade` (`init --upgrade` begins its history).
    /// `host`: the server that answered, when known.
    case clusterUpgraded(server: String, location: String, host: String?, repository: SystemIdentifier, repositoryVersion: Int, cluster: SystemIdentifier, clusterVersion: Int)
    /// `init --upgrade` has nothing to do, or must not do it (`reason`, `hint`).
    case upgradeRefused(server: String, location: String, reason: String, hint: String)
    /// The cluster's WAL segment size differs from the repository's.
    case segmentSizeMismatch(server: String, repository: WALSegmentSize, cluster: WALSegmentSize)
    /// The repository was written by a newer pgbackup.
    case unsupportedFormat(key: String, version: Int)
    /// A repository document could not be decoded.
    case corrupt(key: String, location: String, reason: String)
    /// A key is configured, but the repository was created without encryption.
    case keyForPlaintextRepository(server: String, location: String, keyID: String)
    /// The repository is encrypted and no key is configured.
    case keyRequired(server: String, location: String, repositoryKeyID: String)
    /// The configured key is not the one that wraps the repository's data key.
    case wrongKey(server: String, location: String, repositoryKeyID: String, configuredKeyID: String)
    /// The key has the recorded id, but the wrapped data key does not open with it.
    case dataKeyUnwrapFailed(server: String, location: String, keyID: String)
    /// The repository names an encryption this build does not know.
    case unsupportedEncryption(server: String, location: String, algorithm: String)
    /// `key rotate` on a repository that is not encrypted.
    case notEncrypted(server: String, location: String)
    /// A key is configured and the repository does not exist yet: only `init` creates it.
    case notInitializedWithKey(server: String, location: String, keyID: String)

    public var description: String {
        switch self {
        case let .notInitialized(server, location):
            "no repository for server '\(server)' in \(location)\nHINT: run `pgbackup init` to create it"
        case let .systemIdentifierMismatch(server, location, repository, cluster):
            "the repository for server '\(server)' in \(location) belongs to database system \(repository), but the server is system \(cluster)\nHINT: point PGBACKUP_REPO or --server at this cluster's own repository; a new cluster needs a new server name"
        case let .clusterUpgraded(server, location, host, repository, repositoryVersion, cluster, clusterVersion):
            "the server\(host.map { " at \($0)" } ?? "") is database system \(cluster) on PostgreSQL \(PostgresVersion.major(of: clusterVersion)), but the repository for server '\(server)' in \(location) holds system \(repository) on PostgreSQL \(PostgresVersion.major(of: repositoryVersion))"
                + "\nHINT: if this cluster was upgraded with pg_upgrade, run `pgbackup init --upgrade` to begin its history in this repository (the older backups stay listed and restorable); otherwise point PGBACKUP_REPO or --server at this cluster's own repository"
        case let .upgradeRefused(server, location, reason, hint):
            "unable to begin a new history of server '\(server)' in \(location): \(reason)\nHINT: \(hint)"
        case let .segmentSizeMismatch(server, repository, cluster):
            "the repository for server '\(server)' uses \(repository) WAL segments, but the server uses \(cluster)"
        case let .unsupportedFormat(key, version):
            "'\(key)' has repository format \(version), newer than this pgbackup understands (\(RepositoryInfo.currentFormatVersion))\nHINT: upgrade pgbackup"
        case let .corrupt(key, location, reason):
            "unable to read '\(key)' in \(location): \(reason)"
        case let .keyForPlaintextRepository(server, location, keyID):
            "unable to open the repository for server '\(server)' in \(location): a key is configured (key id \(keyID)) but the repository is not encrypted; refusing to mix encrypted and plaintext objects"
                + "\nHINT: unset PGBACKUP_ENCRYPTION_KEY_FILE / encryption.key_file for this repository, or back up into a new repository created with `pgbackup init` and the key"
        case let .keyRequired(server, location, repositoryKeyID):
            "unable to open the repository for server '\(server)' in \(location): it is encrypted (key id \(repositoryKeyID)) and no key is configured"
                + "\nHINT: set PGBACKUP_ENCRYPTION_KEY_FILE or encryption.key_file to the key file whose id is \(repositoryKeyID)"
        case let .wrongKey(server, location, repositoryKeyID, configuredKeyID):
            "unable to open the repository for server '\(server)' in \(location): it is encrypted with key id \(repositoryKeyID), but the configured key has id \(configuredKeyID)"
                + "\nHINT: configure the key file whose id is \(repositoryKeyID) (after `pgbackup key rotate`, only the new key opens the repository)"
        case let .dataKeyUnwrapFailed(server, location, keyID):
            "unable to open the repository for server '\(server)' in \(location): the wrapped data key in repository.json does not open with key id \(keyID) (repository.json was changed or damaged)"
                + "\nHINT: restore repository.json from another copy of the repository"
        case let .unsupportedEncryption(server, location, algorithm):
            "unable to open the repository for server '\(server)' in \(location): unknown encryption '\(algorithm)'\nHINT: upgrade pgbackup"
        case let .notEncrypted(server, location):
            "unable to rotate the key of the repository for server '\(server)' in \(location): it is not encrypted, so it has no key"
                + "\nHINT: encryption is chosen when a repository is created: back up into a new repository created with `pgbackup init` and a key file"
        case let .notInitializedWithKey(server, location, keyID):
            "no repository for server '\(server)' in \(location) (a key with id \(keyID) is configured)\nHINT: run `pgbackup init` with the key to create an encrypted repository"
        }
    }
}
