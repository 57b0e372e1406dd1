import PGBackupFoundations

/// Why a WAL archive operation was refused. Descriptions follow "unable to <verb> '<object>': <cause>".
public enum WALArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The archive holds no such file (nor, for a segment, a partial copy of it). `restore_command`
    /// meets this all the time (PostgreSQL probes for `00000002.history` and the next segment),
    /// so callers report it quietly.
    case notFound(String)
    /// A different file of that name is already archived; nothing was changed. (`WALArchive`'s
    /// store methods keep such a file apart instead, `WALStoreOutcome.diverged`; the case stays
    /// for a caller that must refuse it.)
    case conflict(name: String, key: String, archived: SHA256Digest, offered: SHA256Digest)
    /// A segment file that is not exactly one segment long.
    case wrongSegmentSize(name: String, path: String, size: UInt64, segmentSize: WALSegmentSize)
    /// A partial segment longer than a segment.
    case partialTooLong(name: String, length: UInt64, segmentSize: WALSegmentSize)

    public var description: String {
        switch self {
        case .notFound(let name):
            return "unable to fetch '\(name)': not in the WAL archive"
        case let .conflict(name, key, archived, offered):
            return "unable to archive '\(name)': '\(key)' already holds different content "
                + "(archived SHA-256 \(archived), this file's \(offered))"
                + "\nHINT: two clusters may be archiving into the same repository under one server name; "
                + "give each cluster its own server name (--server, PGBACKUP_SERVER). "
                + "Never delete archived WAL by hand to make this go away."
        case let .wrongSegmentSize(name, path, size, segmentSize):
            return "unable to archive '\(name)' from '\(path)': a WAL segment has \(segmentSize.bytes) bytes "
                + "(\(segmentSize)), this file has \(size)"
                + "\nHINT: the repository records the cluster's segment size in repository.json; "
                + "is this the repository of this cluster?"
        case let .partialTooLong(name, length, segmentSize):
            return "unable to archive '\(name)': a partial segment of \(length) bytes is longer than a segment (\(segmentSize))"
        }
    }
}
