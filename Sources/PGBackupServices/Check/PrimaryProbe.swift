import Foundation
import PGBackupFoundations
import PGBackupPostgres

/// What `check` asks the primary over an ordinary (non-replication) connection.
public struct PrimaryState: Sendable, Hashable {
    /// `host:port` that answered.
    public var server: String
    public var inRecovery: Bool
    public var systemIdentifier: SystemIdentifier?
    /// Why the system identifier could not be read (pg_control_system() needs privileges).
    public var systemIdentifierProblem: String?
    /// nil on a server in recovery.
    public var currentLSN: LSN?
    public var now: Date
    public var slot: Slot?
    /// `server_version_num`, e.g. 180001.
    public var versionNumber: Int?

    public struct Slot: Sendable, Hashable {
        public var active: Bool
        public var restartLSN: LSN?
        /// Why the server invalidated the slot (it keeps no WAL any more); nil while valid.
        public var invalidation: SlotInvalidation?
        /// Since when no connection uses it (PostgreSQL 17+).
        public var inactiveSince: Date?
    }
}

/// Reads the primary's state over an ordinary connection to the server `PrimaryLocator` chose
/// (`PrimaryLocator.overrides`: that server only, with a bounded `connect_timeout`).
public enum PrimaryProbe {
    /// Connects (to one server of the conninfo with `ConninfoServer.overrides`) and reads the
    /// state. Blocking libpq runs off the cooperative pool.
    public static func probe(conninfo: String, slot: String, overriding: [String: String] = [:]) async throws -> PrimaryState {
        try await BlockingIO.runLong {
            let connection = try PostgresConnection(conninfo: conninfo, overriding: overriding)
            defer { connection.close() }
            return try read(connection, slot: slot)
        }
    }

    static func read(_ connection: PostgresConnection, slot: String) throws -> PrimaryState {
        let server = try connection.connectedServer
        let basics = try connection.simpleQuery("SELECT pg_is_in_recovery(), extract(epoch FROM now())::float8")
        guard let row = basics.first, row.count == 2, let recovery = row[0], let epoch = row[1].flatMap(Double.init) else {
            throw PostgresError.unexpectedResponse("pg_is_in_recovery() and now() returned no row")
        }
        var state = PrimaryState(server: server, inRecovery: recovery == "t", now: Date(timeIntervalSince1970: epoch))
        state.versionNumber = try? connection.serverVersion
        do {
            let rows = try connection.simpleQuery("SELECT system_identifier FROM pg_control_system()")
            state.systemIdentifier = rows.first?.first.flatMap { $0 }.flatMap { SystemIdentifier($0) }
        } catch let error as PostgresError {
            state.systemIdentifierProblem = "\(error)"
        }
        guard !state.inRecovery else { return state }
        state.currentLSN = try connection.simpleQuery("SELECT pg_current_wal_lsn()").first?.first.flatMap { $0 }.flatMap { LSN($0) }
        if let found = try connection.replicationSlotState(slot) {
            state.slot = PrimaryState.Slot(
                active: found.active, restartLSN: found.restartLSN, invalidation: found.invalidation, inactiveSince: found.inactiveSince)
        }
        return state
    }
}
