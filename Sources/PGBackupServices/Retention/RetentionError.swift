/// Why a retention command was refused. Descriptions follow "unable to <verb> '<object>': <cause>".
public enum RetentionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `unpin` of a backup that is not pinned.
    case notPinned(id: String)
    /// The plan would remove a pinned backup (a planner bug: refused, nothing removed).
    case wouldRemovePinned(id: String)

    public var description: String {
        switch self {
        case .notPinned(let id):
            "unable to unpin backup '\(id)': backup \(id) is not pinned"
        case .wouldRemovePinned(let id):
            "unable to apply the retention plan: it removes backup '\(id)', which is pinned; nothing was removed"
                + "\nHINT: this is a bug in pgbackup's retention planner; report it with `pgbackup retention --dry-run --json`"
        }
    }
}
