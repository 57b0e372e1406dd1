import CLibPQ
import PGBackupFoundations

/// Replication commands for slots and timelines, on a replication connection (`.physical` or
/// `.database`) that is not streaming.
///
/// Errors: `ReplicationError.invalidSlotName` before anything is sent;
/// `ReplicationError.commandFailed` with the server's SQLSTATE when it refuses (the connection
/// stays usable); `PostgresError.connectionLost` when the connection broke.
extension PostgresConnection {
    /// `READ_REPLICATION_SLOT name` (PostgreSQL 15+): the slot's type, restart LSN and its
    /// timeline, or nil when no slot has that name (the server answers a row of NULLs).
    /// PostgreSQL 15 refuses it for a logical slot (`commandFailed`).
    public func readReplicationSlot(_ name: String) throws -> ReplicationSlotInfo? {
        try validateSlotName(name)
        let rows = try replicationCommand("READ_REPLICATION_SLOT \(name)", action: "read replication slot '\(name)'")
        guard rows.count == 1, rows[0].count == 3 else {
            throw PostgresError.unexpectedResponse(
                "READ_REPLICATION_SLOT returned \(rows.count) rows of \(rows.first?.count ?? 0) columns, expected 1 row of 3")
        }
        let row = rows[0]
        guard let slotType = row[0] else { return nil }
        let restartLSN = try row[1].map { text in
            guard let lsn = LSN(text) else {
                throw PostgresError.unexpectedResponse("READ_REPLICATION_SLOT returned restart_lsn '\(text)'")
            }
            return lsn
        }
        let restartTimeline = try row[2].map { text in
            guard let value = UInt32(text), value > 0 else {
                throw PostgresError.unexpectedResponse("READ_REPLICATION_SLOT returned restart_tli '\(text)'")
            }
            return TimelineID(value)
        }
        return ReplicationSlotInfo(slotType: slotType, restartLSN: restartLSN, restartTimeline: restartTimeline)
    }

    /// `CREATE_REPLICATION_SLOT name [TEMPORARY] PHYSICAL [RESERVE_WAL]`.
    ///
    /// With `reserveWAL` the slot keeps WAL from the last checkpoint's redo position on, at once;
    /// without, it keeps nothing until a client first streams from it. (The command answers
    /// `consistent_point` 0/0 for a physical slot: `readReplicationSlot` gives the real
    /// restart LSN.) A `temporary` slot belongs to this connection: only it can stream from the
    /// slot, and the server drops it when the connection ends, however it ends. Works on a
    /// standby too.
    ///
    /// - Returns: `.alreadyExists` when a slot of that name exists (SQLSTATE 42710), left as is.
    @discardableResult
    public func createPhysicalReplicationSlot(_ name: String, reserveWAL: Bool = true, temporary: Bool = false) throws -> ReplicationSlotCreation {
        try validateSlotName(name)
        do {
            try replicationCommand(
                "CREATE_REPLICATION_SLOT \(name)" + (temporary ? " TEMPORARY" : "") + " PHYSICAL" + (reserveWAL ? " RESERVE_WAL" : ""),
                action: "create physical replication slot '\(name)'")
            return .created
        } catch let error as ReplicationError where error.sqlState == "42710" {
            return .alreadyExists
        }
    }

    /// `DROP_REPLICATION_SLOT name`: fails with SQLSTATE 42704 when it does not exist and 55006
    /// when a connection is streaming from it.
    public func dropReplicationSlot(_ name: String) throws {
        try validateSlotName(name)
        try replicationCommand("DROP_REPLICATION_SLOT \(name)", action: "drop replication slot '\(name)'")
    }

    /// `TIMELINE_HISTORY tli`: the history file of a timeline (`00000002.history`) as the server
    /// has it in pg_wal, byte for byte. Timeline 1 has none: SQLSTATE 58P01.
    ///
    /// The server declares the content column `bytea` but sends the file's raw bytes in a text
    /// format column (no `\x` escaping), so it is read as bytes, never decoded as bytea.
    public func timelineHistory(_ timeline: TimelineID) throws -> (fileName: String, content: [UInt8]) {
        try withReplicationResult("TIMELINE_HISTORY \(timeline.rawValue)", action: "read the history of timeline \(timeline)") { result in
            guard PQresultStatus(result) == PGRES_TUPLES_OK, PQntuples(result) == 1, PQnfields(result) == 2,
                  PQgetisnull(result, 0, 0) == 0, PQgetisnull(result, 0, 1) == 0
            else {
                throw PostgresError.unexpectedResponse(
                    "TIMELINE_HISTORY returned \(PQntuples(result)) rows of \(PQnfields(result)) columns, expected 1 row of 2")
            }
            let fileName = String(cString: PQgetvalue(result, 0, 0))
            let length = Int(PQgetlength(result, 0, 1))
            let content = PQgetvalue(result, 0, 1).withMemoryRebound(to: UInt8.self, capacity: length) {
                Array(UnsafeBufferPointer(start: $0, count: length))
            }
            return (fileName, content)
        }
    }

    // MARK: - plumbing

    /// `simpleQuery` with the server's refusal as `ReplicationError.commandFailed(action:)`.
    @discardableResult
    func replicationCommand(_ command: String, action: String) throws -> [[String?]] {
        do {
            return try simpleQuery(command)
        } catch let PostgresError.queryFailed(report) where !Self.endsTheSession(report) {
            throw ReplicationError.commandFailed(action: action, report)
        } catch let PostgresError.queryFailed(report) {
            throw PostgresError.connectionLost(reason: report.message)
        }
    }

    /// Runs `command` with `PQexec` and hands its successful result to `body` (cleared after).
    func withReplicationResult<R>(_ command: String, action: String, _ body: (OpaquePointer) throws -> R) throws -> R {
        let connection = try handle
        guard let result = PQexec(connection, command) else {
            throw PostgresError.connectionLost(reason: Self.errorMessage(connection))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw Self.replicationError(from: result, connection: connection, action: action)
        default:
            return try body(result)
        }
    }

    /// The error of a failed result: the connection is lost when libpq says so or the server's
    /// severity ends the session (FATAL, PANIC); otherwise the server refused `action`.
    static func replicationError(from result: OpaquePointer, connection: OpaquePointer, action: String) -> any Error {
        switch error(from: result, connection: connection) {
        case let .queryFailed(report) where endsTheSession(report):
            return PostgresError.connectionLost(reason: report.message)
        case let .queryFailed(report):
            return ReplicationError.commandFailed(action: action, report)
        case let other:
            return other
        }
    }

    static func endsTheSession(_ report: ServerErrorReport) -> Bool {
        report.severity == "FATAL" || report.severity == "PANIC"
    }
}
