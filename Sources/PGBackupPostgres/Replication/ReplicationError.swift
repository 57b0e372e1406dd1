import PGBackupFoundations

/// Errors of the replication client, besides `PostgresError` (which still reports a lost
/// connection, `connectionLost`, and libpq-level failures). Descriptions are for operators:
/// "unable to <do what>: <the server's reason>", then the server's DETAIL and a HINT.
public enum ReplicationError: Error, CustomStringConvertible, Sendable {
    /// A slot name that PostgreSQL would refuse (or that would not be safe in a command):
    /// only lower-case letters, digits and underscores, 1 to 63 of them.
    case invalidSlotName(String)
    /// The server refused a replication command or ended a stream with an error (it stays
    /// connected). `action` says what was attempted, e.g. "start streaming from 0/3000000 on
    /// timeline 1 (slot 'pgbackup')".
    case commandFailed(action: String, ServerErrorReport)
    /// The server sent a CopyData payload that is not a replication message.
    case malformedMessage(ReplicationMessageError)
    /// The server ended a timeline at a position that leaves a gap, or named a next timeline
    /// that does not follow the current one.
    case inconsistentTimelineSwitch(String)
    /// The server did not answer within the protocol timeout while ending a COPY.
    case timedOut(waitingFor: String)
    /// The API was used out of order, e.g. `receive` before `start` (a bug in the caller).
    case misuse(String)

    /// The SQLSTATE of a `commandFailed`, else nil.
    public var sqlState: String? {
        if case let .commandFailed(_, report) = self { return report.sqlState }
        return nil
    }

    public var description: String {
        switch self {
        case let .invalidSlotName(name):
            return "invalid replication slot name '\(name)': use 1 to 63 lower-case letters, digits and underscores"
        case let .commandFailed(action, report):
            var text = "unable to \(action): \(report.message)"
            if let sqlState = report.sqlState { text += " (SQLSTATE \(sqlState))" }
            if let detail = report.detail { text += "\nDETAIL: \(detail)" }
            if let hint = Self.hint(for: report) { text += "\nHINT: \(hint)" }
            return text
        case let .malformedMessage(error):
            return "\(error)\nHINT: is something between pgbackup and PostgreSQL (a proxy, a pooler) altering the replication stream?"
        case let .inconsistentTimelineSwitch(what):
            return "inconsistent timeline switch from the server: \(what)"
        case let .timedOut(what):
            return "timed out waiting for \(what)\nHINT: the server or the network is stalled; check the server's log"
        case let .misuse(what):
            return "replication client used out of order: \(what)"
        }
    }

    /// Our hint for the SQLSTATEs an operator meets; the server's own hint otherwise.
    private static func hint(for report: ServerErrorReport) -> String? {
        switch report.sqlState {
        case "58P01" where report.message.contains("has already been removed"):
            return "the server recycled this WAL before pgbackup archived it: the archive has a gap there. "
                + "Stream through a physical replication slot (PGBACKUP_SLOT) so the server keeps WAL until it is "
                + "acknowledged, then take a new base backup: PITR cannot cross the gap."
        case "58P01" where report.message.contains(".history"):
            return "the server has no history file for that timeline (timeline 1 never has one)"
        case "55000" where report.message.contains("can no longer access replication slot"):
            return "the server invalidated the replication slot (pg_replication_slots.invalidation_reason): it keeps no WAL any more. "
                + "`pgbackup daemon` drops and recreates it, records the WAL the server removed meanwhile as a gap and takes a base backup"
        case "42704":
            return "the replication slot does not exist on this server: create it (pgbackup creates its slot at start), "
                + "or check PGBACKUP_SLOT and that this is the right server"
        case "42710":
            return "a replication slot of that name already exists"
        case "55006":
            return "the replication slot is in use by another connection (pg_replication_slots.active_pid): "
                + "is another pgbackup daemon or a standby streaming from it?"
        case "42501":
            return "the role needs the REPLICATION attribute (ALTER ROLE … REPLICATION)"
        case "53400":
            return "the server has no free replication slot or WAL sender: raise max_replication_slots / max_wal_senders, "
                + "or drop unused slots (pg_replication_slots)"
        default:
            return report.hint
        }
    }
}
