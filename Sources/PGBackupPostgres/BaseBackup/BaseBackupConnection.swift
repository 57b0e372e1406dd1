extension BaseBackupStream {
    /// Opens a replication connection for a base backup, turning the two refusals an operator
    /// must act on into their own errors. PostgreSQL refuses both at connection time with a
    /// FATAL error, which libpq reports only as text (no SQLSTATE), so they are recognized by
    /// PostgreSQL's (untranslated) messages:
    ///
    /// - `BaseBackupError.noFreeWALSender` (53300): "number of requested standby connections
    ///   exceeds max_wal_senders" (15, 16), `exceeds "max_wal_senders"` (17+ quote the setting).
    /// - `BaseBackupError.replicationNotPermitted` (42501): "must be superuser or replication
    ///   role to start walsender" (15), "permission denied to start WAL sender" (16+).
    ///
    /// Other failures are `PostgresConnection.init`'s (`PostgresError`).
    public static func openConnection(
        conninfo: String, replication: ReplicationMode = .physical, overriding: [String: String] = [:]
    ) throws -> PostgresConnection {
        do {
            return try PostgresConnection(conninfo: conninfo, replication: replication, overriding: overriding)
        } catch PostgresError.connectionFailed(let target, let reason) {
            if reason.contains("exceeds max_wal_senders") || reason.contains("exceeds \"max_wal_senders\"") {
                throw BaseBackupError.noFreeWALSender(target: target, reason: reason)
            }
            if reason.contains("must be superuser or replication role") || reason.contains("permission denied to start WAL sender") {
                throw BaseBackupError.replicationNotPermitted(target: target, reason: reason)
            }
            throw PostgresError.connectionFailed(target: target, reason: reason)
        }
    }
}
