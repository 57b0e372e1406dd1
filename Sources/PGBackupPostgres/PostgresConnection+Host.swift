import CLibPQ

extension PostgresConnection {
    /// The host and port this connection reached (`PQhost`, `PQport`): with a multi-host
    /// conninfo, the one that answered. A Unix socket's directory for a local connection.
    public var connectedServer: String {
        get throws {
            let connection = try handle
            let host = PQhost(connection).map { String(cString: $0) } ?? "?"
            let port = PQport(connection).map { String(cString: $0) } ?? "?"
            return "\(host):\(port)"
        }
    }
}
