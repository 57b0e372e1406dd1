/// Why the repository cannot be used as asked. Descriptions say what to do next.
public enum RepositoryError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No `repository.json` for the server.
    case notInitialized(server: String, location: String)
    /// The repository holds another cluster's backups.
    case systemIdentifierMismatch(server: String, location: String, repository: String, cluster: String)
    /// The cluster's WAL segment size differs from the repository's.
    case segmentSizeMismatch(server: String, repository: Int, cluster: Int)
    /// The repository was written by a newer pgbackup.
    case unsupportedFormat(key: String, version: Int)
    /// A repository document could not be decoded.
    case corrupt(key: String, location: String, reason: String)

    public var description: String {
        switch self {
        case let .notInitialized(server, location):
            "no repository for server '\(server)' in \(location)\nHINT: run `pgbackup init` to create it"
        case let .systemIdentifierMismatch(server, location, repository, cluster):
            "the repository for server '\(server)' in \(location) belongs to database system \(repository), but the server is system \(cluster)\nHINT: point PGBACKUP_REPO or --server at this cluster's own repository; a new cluster needs a new server name"
        case let .segmentSizeMismatch(server, repository, cluster):
            "the repository for server '\(server)' uses \(repository)-byte WAL segments, but the server uses \(cluster)"
        case let .unsupportedFormat(key, version):
            "'\(key)' has repository format \(version), newer than this pgbackup understands (\(RepositoryInfo.currentFormatVersion))\nHINT: upgrade pgbackup"
        case let .corrupt(key, location, reason):
            "unable to read '\(key)' in \(location): \(reason)"
        }
    }
}
