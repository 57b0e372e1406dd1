import PGBackupFoundations

/// Why `pgbackup follow` refused or failed (exit 1), with what the operator can do.
public enum FollowError: Error, Sendable, CustomStringConvertible, Equatable {
    /// DIR is not a PostgreSQL data directory.
    case notADataDirectory(path: String, reason: String)
    /// `pg_controldata`'s output lacked what we need.
    case controlData(String)
    /// `pg_controldata` could not be run or failed.
    case controlDataFailed(path: String, reason: String)
    /// DIR belongs to another cluster than the repository.
    case anotherCluster(path: String, found: SystemIdentifier, repository: SystemIdentifier)
    /// DIR is a running primary: follow never touches one.
    case runningPrimary(path: String, pid: Int32)
    /// DIR is a running standby that went past the new primary's fork point.
    case runningDivergedStandby(path: String, pid: Int32, reason: String)
    /// No primary of the cluster answers.
    case noPrimary(String)
    /// Writing or reloading failed.
    case failed(action: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .notADataDirectory(path, reason):
            "unable to follow with '\(path)': it is not a PostgreSQL data directory (\(reason))\nHINT: give --pgdata the data directory of a standby or of a former primary"
        case let .controlData(reason):
            "unable to read the control data: \(reason)"
        case let .controlDataFailed(path, reason):
            "unable to read the control data of '\(path)': \(reason)"
        case let .anotherCluster(path, found, repository):
            "unable to follow with '\(path)': it is a directory of another cluster (system identifier \(found); the repository's is \(repository))\nHINT: check --pgdata and --server"
        case let .runningPrimary(path, pid):
            "unable to follow with '\(path)': it is a running primary (postmaster \(pid)): stop it first (pg_ctl stop -m fast); follow never touches a running primary"
        case let .runningDivergedStandby(path, pid, reason):
            "unable to follow with '\(path)': the standby (postmaster \(pid)) diverged from the new primary: \(reason)\nHINT: stop it, then run follow again: it is rejoined by a delta restore from the repository"
        case let .noPrimary(detail):
            "unable to follow: no primary found: \(detail)\nHINT: check that the new primary runs and is listed in PGBACKUP_CONNINFO (or give --primary-conninfo)"
        case let .failed(action, path, reason):
            "unable to \(action) '\(path)': \(reason)"
        }
    }
}
