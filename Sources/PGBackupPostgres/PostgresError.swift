/// What the server said about a failed statement (the fields of an ErrorResponse), or in a
/// notice or warning (a NoticeResponse has the same fields; `PostgresConnection.noticeHandler`).
public struct ServerErrorReport: Sendable, Equatable {
    /// `ERROR`, `FATAL`, `PANIC`; for a notice `WARNING`, `NOTICE`, … (not localized).
    public var severity: String
    /// The five-character SQLSTATE, e.g. `42P01`.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(severity: String, sqlState: String?, message: String, detail: String? = nil, hint: String? = nil) {
        self.severity = severity
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }
}

/// Errors of the libpq layer. Descriptions are for operators: they name the target
/// (`host=… port=… user=… dbname=…`, never a password), carry libpq's or the server's own reason,
/// and end with a HINT when there is something to check.
public enum PostgresError: Error, CustomStringConvertible, Sendable {
    /// The connection string does not parse.
    case invalidConninfo(reason: String)
    /// No session could be established: the server is unreachable, refuses TCP connections, is
    /// starting up or shutting down, or the database does not exist.
    case connectionFailed(target: String, reason: String)
    /// The server rejected the credentials or pg_hba.conf has no entry for this user and host
    /// (SQLSTATE class 28: 28P01, 28000).
    case authenticationFailed(target: String, reason: String)
    /// The server reported an error for a statement; the connection is still usable unless the
    /// severity is FATAL or PANIC.
    case queryFailed(ServerErrorReport)
    /// The connection broke while in use.
    case connectionLost(reason: String)
    /// The server answered with something this client did not expect (a protocol bug, or a
    /// server that is not what it claims).
    case unexpectedResponse(String)
    /// The connection was closed with `close()` and used afterwards.
    case closed

    /// The SQLSTATE of a `queryFailed`, else nil.
    public var sqlState: String? {
        if case let .queryFailed(report) = self { return report.sqlState }
        return nil
    }

    public var description: String {
        switch self {
        case let .invalidConninfo(reason):
            return "invalid PostgreSQL connection string: \(reason)"
                + "\nHINT: use key=value pairs (host=… port=… user=… dbname=…) or a postgresql:// URI"
        case let .connectionFailed(target, reason):
            return "unable to connect to PostgreSQL at \(target): \(reason)"
                + "\nHINT: check that the server is running and accepts TCP/IP connections on that host and port "
                + "(listen_addresses, port, firewall), and that the database exists"
        case let .authenticationFailed(target, reason):
            return "unable to authenticate to PostgreSQL at \(target): \(reason)"
                + "\nHINT: check the user name and password (password= in the connection string, PGPASSWORD or ~/.pgpass) "
                + "and that pg_hba.conf allows this user from this host (a `replication` line for replication connections)"
        case let .queryFailed(report):
            var text = "query failed: \(report.severity)"
            if let sqlState = report.sqlState { text += " \(sqlState)" }
            text += ": \(report.message)"
            if let detail = report.detail { text += "\nDETAIL: \(detail)" }
            if let hint = report.hint { text += "\nHINT: \(hint)" }
            return text
        case let .connectionLost(reason):
            return "lost the connection to PostgreSQL: \(reason)"
                + "\nHINT: the server may have restarted or been shut down; check its log"
        case let .unexpectedResponse(what):
            return "unexpected response from PostgreSQL: \(what)"
        case .closed:
            return "the PostgreSQL connection was already closed"
        }
    }
}
