import PGBackupFoundations
import PGBackupRepository

/// Why a base backup failed, beyond the errors of the layers below (connection, replication,
/// repository, storage), which reach the caller as they are.
public enum BackupError: Error, Sendable, CustomStringConvertible {
    /// The tar stream held an entry a data directory cannot have (a device, a hard link), or a
    /// file whose content does not match its header.
    case unexpectedArchiveEntry(path: String, type: String)
    /// The server sent an archive whose name is neither `base.tar` nor `<oid>.tar` of a
    /// tablespace it listed: its files would have no place in the backup.
    case unexpectedArchive(name: String, reason: String)
    /// The server ended the WAL stream the backup needs (a timeline switch: the server was
    /// promoted or demoted during the backup).
    case walStreamEnded(at: LSN, timeline: TimelineID)
    /// The server's `backup_manifest` exceeded what pgbackup keeps in memory.
    case serverManifestTooLarge(limit: Int)
    /// The server's `backup_manifest` is not one pgbackup can keep: malformed, of an unknown
    /// version, or naming another cluster's system identifier (version 2, PostgreSQL 17+).
    case serverManifestRejected(ServerManifestError)
    /// The backup stream ended before the server reported the backup's end.
    case incompleteStream(String)
    /// The only primary that answers is on a timeline older than the repository's: a former
    /// primary after a failover, whose WAL the repository keeps apart as diverged.
    case formerPrimary(server: String, timeline: TimelineID, repositoryTimeline: TimelineID)
    /// The backup completed and is kept, but the server found pages whose checksum failed while
    /// it sent them (`BackupManifest.checksumFailures`). Not thrown by `BackupService`, which
    /// returns the kept backup: the callers that must fail (the CLI, a scheduled backup) report
    /// it with this.
    case checksumFailures(id: BackupID, PageChecksumFailures)

    public var description: String {
        switch self {
        case let .unexpectedArchiveEntry(path, type):
            return "unexpected entry in the base backup stream: '\(path)' (\(type))"
        case let .unexpectedArchive(name, reason):
            return "unable to take the base backup: the server sent an archive named '\(name)': \(reason); the backup was not kept"
                + "\nHINT: pgbackup understands PostgreSQL 15's archives (base.tar and <tablespace oid>.tar); is something between pgbackup and the server altering the stream?"
        case let .walStreamEnded(at, timeline):
            return "the server ended the WAL stream of timeline \(timeline) at \(at) during the backup (was it promoted or demoted?); "
                + "the backup is incomplete and was not kept\nHINT: run the backup again against the current primary"
        case let .serverManifestTooLarge(limit):
            return "the server's backup_manifest exceeds \(limit >> 20) MiB"
        case let .serverManifestRejected(error):
            return "unable to take the base backup: \(error); the backup was not kept"
                + "\nHINT: is PGBACKUP_CONNINFO reaching another cluster than the repository's (PGBACKUP_REPO, PGBACKUP_SERVER)? `pgbackup check` compares them"
        case let .incompleteStream(what):
            return "the base backup stream ended early: \(what)"
        case let .formerPrimary(server, timeline, repositoryTimeline):
            return "unable to take the base backup from \(server): it answers as primary on timeline \(timeline), but the repository already holds timeline \(repositoryTimeline): it is a former primary that diverged after a failover, and its WAL would be kept apart (the backup could never be restored)"
                + "\nHINT: back up the current primary (list it in PGBACKUP_CONNINFO); fence the former one and rejoin it with `pgbackup follow`"
        case let .checksumFailures(id, failures):
            return "backup \(id) is stored, but the server found pages whose checksum failed: \(failures.summary); "
                + "the backup is kept, complete and restorable, with those pages as the server read them (damaged)"
                + "\nHINT: run pg_amcheck on the server to see which relations are damaged; restore each damaged relation "
                + "(or the whole cluster) from an earlier backup without checksum failures (`pgbackup list` shows them), "
                + "then take a new backup"
        }
    }
}
