import PGBackupFoundations

/// The spool directory cannot be used.
enum WALSpoolError: Error, CustomStringConvertible {
    /// Creating the directory failed (its description says which one and why).
    case unusableDirectory(any Error)
    /// Another database system's WAL (a spool left from before a `pg_upgrade`) could not be moved
    /// out of the way.
    case unableToSetAside(file: String, into: String, reason: String)

    var description: String {
        switch self {
        case let .unusableDirectory(cause):
            "\(cause)\nHINT: the WAL spool lives under /var/lib/pgbackup/spool unless told otherwise: "
                + "point --spool (daemon), PGBACKUP_SPOOL or `spool_directory:` in the configuration file "
                + "at a writable directory on a persistent volume"
        case let .unableToSetAside(file, into, reason):
            "unable to move '\(file)', WAL of another database system, into '\(into)': \(reason)\n"
                + "HINT: it must not be stored into this cluster's history; move it out of the spool by hand"
        }
    }
}
