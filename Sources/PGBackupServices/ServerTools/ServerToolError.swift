/// Why PostgreSQL's own programs could not be run on a data directory (`verify-restore`,
/// `follow`): no binaries of the major, a user to run them as that cannot be, a program that
/// did not start.
public enum ServerToolError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No server binaries of the backup's major version (exit 1).
    case noServerBinaries(major: Int, tried: [String])
    /// `postgres_bindir`'s one directory holds another major's binaries (exit 1).
    case wrongServerBinaries(major: Int, directory: String, found: Int?)
    /// A usage problem: root without `--run-as`, an unknown user, no reachable temporary
    /// directory (exit 2 from `verify-restore`).
    case refused(String)
    case launch(command: String, reason: String)

    public var description: String {
        switch self {
        case let .noServerBinaries(major, tried):
            "unable to find the PostgreSQL \(major) server binaries: tried \(tried.joined(separator: "; "))\n"
                + "HINT: install PostgreSQL \(major)'s server package, or name its binaries in postgres_bindir (PGBACKUP_POSTGRES_BINDIR), "
                + "one directory per major: \(major)=/usr/lib/postgresql/\(major)/bin"
        case let .wrongServerBinaries(major, directory, found):
            "unable to use postgres_bindir \(directory): it holds PostgreSQL \(found.map(String.init) ?? "(unknown version)")'s server binaries, "
                + "and this needs PostgreSQL \(major)'s\n"
                + "HINT: name one directory per major in postgres_bindir (PGBACKUP_POSTGRES_BINDIR), e.g. "
                + "\(found.map { "\($0)=\(directory)," } ?? "")\(major)=/usr/lib/postgresql/\(major)/bin"
        case let .refused(reason): reason
        case let .launch(command, reason): "unable to run '\(command)': \(reason)"
        }
    }
}
