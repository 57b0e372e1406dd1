import PGBackupFoundations

/// The spool directory cannot be used.
enum WALSpoolError: Error, CustomStringConvertible {
    /// Creating the directory failed (its description says which one and why).
    case unusableDirectory(any Error)

    var description: String {
        switch self {
        case let .unusableDirectory(cause):
            "\(cause)\nHINT: the WAL spool lives under /var/lib/pgbackup/spool unless told otherwise: "
                + "point --spool (daemon), PGBACKUP_SPOOL or `spool_directory:` in the configuration file "
                + "at a writable directory on a persistent volume"
        }
    }
}
