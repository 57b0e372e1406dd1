/// Why a restore was refused before anything was written (DESIGN.md, invariant 4). Each message
/// names what is possible instead.
public enum RestoreRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// A malformed option (a time without a zone, an unknown timeline keyword, …).
    case invalidOption(String)
    /// No backup can reach the target; `reason` names the restorable window.
    case unreachableTarget(String)
    /// The WAL the restore needs is not all in the repository.
    case missingWAL(String)
    /// The target directory (or a tablespace directory) is not empty; `--delta` or `--force` say
    /// what to do with it.
    case directoryNotEmpty(String)
    /// The repository holds no complete backup of the server.
    case noBackups(server: String)

    public var description: String {
        switch self {
        case let .invalidOption(what): what
        case let .unreachableTarget(reason): reason
        case let .missingWAL(reason): reason
        case let .directoryNotEmpty(path):
            "the target directory \(path) is not empty\nHINT: restore into an empty or new directory; --delta updates an older copy of the same cluster in place, --force replaces what is there"
        case let .noBackups(server):
            "the repository holds no complete backup of server '\(server)'\nHINT: take one with `pgbackup backup`"
        }
    }
}
