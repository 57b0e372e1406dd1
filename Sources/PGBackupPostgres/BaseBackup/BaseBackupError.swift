/// Errors of the BASE_BACKUP client, besides `ReplicationError.commandFailed` (the server refused
/// or aborted the backup; it carries the SQLSTATE and the server's message) and
/// `PostgresError.connectionLost` (the connection broke, or the server ended the session).
/// Descriptions are for operators: what failed, why, and a HINT when there is something to do.
public enum BaseBackupError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The options cannot be sent (e.g. a rate outside 32…1048576 kB/s); nothing was sent.
    case invalidOptions(String)
    /// The server is older than PostgreSQL 15, whose BASE_BACKUP syntax and COPY framing this
    /// client speaks. `version` is `PQserverVersion`, e.g. 140009.
    case unsupportedServer(version: Int)
    /// No WAL sender is free on the server (SQLSTATE 53300 at connection time:
    /// "number of requested standby connections exceeds max_wal_senders").
    case noFreeWALSender(target: String, reason: String)
    /// The role may not open a replication connection (SQLSTATE 42501 at connection time:
    /// "must be superuser or replication role to start walsender").
    case replicationNotPermitted(target: String, reason: String)
    /// The backup was cancelled through `BaseBackupStream.cancel()` or its `canceller`; the
    /// server aborted it (SQLSTATE 57014) and the connection is idle again.
    case cancelled
    /// The cancel request could not be delivered (`PQcancel` failed, e.g. the server is
    /// unreachable); the backup may still be running.
    case cancelRequestFailed(reason: String)
    /// A CopyData payload that is not PostgreSQL 15's BASE_BACKUP framing (`'n'`, `'d'`, `'p'`,
    /// `'m'`), or a result out of the documented order. The stream cannot be trusted after it.
    case malformedStream(String)

    public var description: String {
        switch self {
        case let .invalidOptions(what):
            return "invalid base backup options: \(what)"
        case let .unsupportedServer(version):
            return "unable to take a base backup: the server runs PostgreSQL \(Self.versionText(version)), "
                + "and pgbackup needs PostgreSQL 15 or later for BASE_BACKUP"
        case let .noFreeWALSender(target, reason):
            return "unable to open a replication connection to \(target) for a base backup: \(reason) (SQLSTATE 53300)"
                + "\nHINT: every WAL sender is busy (pgbackup's WAL stream, standbys, other backups): raise max_wal_senders "
                + "on the server (a restart is needed), or look at pg_stat_replication for connections that should not be there"
        case let .replicationNotPermitted(target, reason):
            return "unable to open a replication connection to \(target) for a base backup: \(reason) (SQLSTATE 42501)"
                + "\nHINT: the role needs the REPLICATION attribute: ALTER ROLE <name> REPLICATION"
        case .cancelled:
            return "the base backup was cancelled; the server aborted it"
        case let .cancelRequestFailed(reason):
            return "unable to cancel the base backup: \(reason)"
                + "\nHINT: if the server still runs the backup, pg_stat_progress_basebackup shows it and "
                + "pg_terminate_backend(pid) ends it"
        case let .malformedStream(what):
            return "malformed base backup stream: \(what)"
                + "\nHINT: is something between pgbackup and PostgreSQL (a proxy, a pooler) altering the replication stream?"
        }
    }

    private static func versionText(_ version: Int) -> String {
        version >= 100_000 ? "\(version / 10000).\(version % 10000)" : "\(version / 10000).\(version / 100 % 100).\(version % 100)"
    }
}
