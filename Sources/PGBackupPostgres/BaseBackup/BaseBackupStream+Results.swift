import CLibPQ
import PGBackupFoundations
#if canImport(Glibc)
import Glibc
#endif

/// Reading libpq results and waiting on the socket, for `BaseBackupStream`.
extension BaseBackupStream {
    /// The deadline for the next wait: the cancel drain's, else `stallTimeout` from now, else none.
    func waitDeadline() -> ContinuousClock.Instant? {
        drainDeadline ?? stallTimeout.map { ContinuousClock.now + $0 }
    }

    /// PQgetResult without blocking past `deadline` (nil: as long as it takes); nil once the
    /// server's answer is complete (ReadyForQuery).
    func nextResult(until deadline: ContinuousClock.Instant?, waitingFor what: String) throws -> OpaquePointer? {
        let connection = try postgres.handle
        while PQisBusy(connection) != 0 {
            try waitForInput(until: deadline, waitingFor: what)
        }
        return PQgetResult(connection)
    }

    /// Waits until the socket is readable, then reads what arrived into libpq's buffer.
    /// A timeout closes the connection: the server then aborts the backup for certain.
    func waitForInput(until deadline: ContinuousClock.Instant?, waitingFor what: String) throws {
        let connection = try postgres.handle
        let socket = PQsocket(connection)
        let readable = deadline.map { waitUntilReadable(socket, until: $0) } ?? waitUntilReadable(socket)
        guard readable else {
            abandon(reason: "timed out waiting for \(what)")
            throw ReplicationError.timedOut(waitingFor: what)
        }
        guard PQconsumeInput(connection) != 0 else { throw lost(PostgresConnection.errorMessage(connection)) }
    }

    /// The row `recptr`, `tli` that starts and ends a backup.
    func positionRow(_ result: OpaquePointer, what: String) throws -> (LSN, TimelineID) {
        guard PQresultStatus(result) == PGRES_TUPLES_OK, PQntuples(result) == 1, PQnfields(result) >= 2,
              PQgetisnull(result, 0, 0) == 0, PQgetisnull(result, 0, 1) == 0
        else {
            throw malformed(
                "\(statusName(PQresultStatus(result))) of \(PQntuples(result)) rows and \(PQnfields(result)) columns "
                    + "where the backup's \(what) position (1 row: recptr, tli) should be")
        }
        let lsnText = String(cString: PQgetvalue(result, 0, 0))
        let timelineText = String(cString: PQgetvalue(result, 0, 1))
        guard let lsn = LSN(lsnText), let timeline = UInt32(timelineText), timeline > 0 else {
            throw malformed("the backup's \(what) position is recptr='\(lsnText)' tli='\(timelineText)'")
        }
        return (lsn, TimelineID(timeline))
    }

    /// The rows `spcoid`, `spclocation`, `size` (kB) of the tablespace list.
    func tablespaceRows(_ result: OpaquePointer) throws -> [BaseBackupTablespace] {
        guard PQresultStatus(result) == PGRES_TUPLES_OK, PQnfields(result) >= 3 else {
            throw malformed(
                "\(statusName(PQresultStatus(result))) of \(PQnfields(result)) columns where the tablespace list "
                    + "(spcoid, spclocation, size) should be")
        }
        func text(_ row: Int32, _ column: Int32) -> String? {
            PQgetisnull(result, row, column) != 0 ? nil : String(cString: PQgetvalue(result, row, column))
        }
        return try (0..<PQntuples(result)).map { row in
            let oidText = text(row, 0)
            let sizeText = text(row, 2)
            let oid = oidText.flatMap { UInt32($0) }
            let kilobytes = sizeText.flatMap { Int64($0) }
            guard (oidText == nil) == (oid == nil), (sizeText == nil) == (kilobytes == nil), (kilobytes ?? 0) >= 0 else {
                throw malformed("tablespace row spcoid='\(oidText ?? "NULL")' size='\(sizeText ?? "NULL")'")
            }
            return BaseBackupTablespace(oid: oid, location: text(row, 1), estimatedSize: kilobytes.map { $0 * 1024 })
        }
    }

    /// Closes the connection of a stream that cannot continue; the server aborts the backup
    /// when it notices.
    func abandon(reason: String) {
        postgres.close()
        state = .broken(reason: reason)
    }

    /// A protocol violation: the stream is abandoned, and this is the error to throw.
    func malformed(_ what: String) -> BaseBackupError {
        malformed(BaseBackupError.malformedStream(what))
    }

    func malformed(_ error: BaseBackupError) -> BaseBackupError {
        abandon(reason: "\(error)")
        return error
    }

    func lost(_ reason: String) -> PostgresError {
        state = .broken(reason: reason)
        return .connectionLost(reason: reason)
    }
}
