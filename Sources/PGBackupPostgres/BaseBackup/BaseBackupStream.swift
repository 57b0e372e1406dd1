import CLibPQ
import PGBackupFoundations

/// One `BASE_BACKUP` over a replication connection, read as a sequence of events
/// (`BaseBackupEvent`) with `next()`.
///
/// Made for one dedicated thread (libpq is blocking; run it off Swift's cooperative pool, e.g.
/// with `BlockingIO`). Not `Sendable`; only `canceller` may be used from other threads.
///
/// The stream owns its connection: the caller hands it over at `init` and keeps no other use of
/// it. While a backup runs, the connection is in COPY mode and nothing else may use it; after
/// `.finished`, a refusal, or `cancel()`, `connection` gives it back idle (and another `start`
/// may follow). Dropping a stream in the middle of a backup closes the connection, which makes
/// the server abort the backup.
///
/// Pages whose checksum fails do not stop a backup: PostgreSQL sends every byte, then ends with
/// an ERROR of SQLSTATE XX001 after the end position; the stream reads the WARNING notices that
/// name them (its connection's `noticeHandler` while a backup runs) and ends with `.finished`
/// carrying them (`PageChecksumFailures`).
///
/// Memory stays bounded by one CopyData message (the server sends at most 32 KiB of data per
/// message): the data events point into libpq's buffer, which is freed on the next call.
///
/// ```swift
/// let stream = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
/// try stream.start(BaseBackupOptions(label: "pgbackup 20261122T101500Z"))
/// while let event = try stream.next() {
///     switch event {
///     case .archiveData(let bytes): try tarReader.feed(bytes) { … }   // bytes die at the next call
///     …
///     }
/// }
/// ```
public final class BaseBackupStream {
    enum State {
        /// No backup sent yet.
        case idle
        /// BASE_BACKUP sent; the start row comes once the checkpoint is done.
        case awaitingStart
        /// The tablespace list comes once the server has sized them (with PROGRESS).
        case awaitingTablespaces
        /// The CopyOutResponse comes next.
        case awaitingCopy
        case copying(CopyPhase)
        /// `.finished` was handed out; the connection is idle.
        case finished
        /// The server refused or aborted the backup (or it was cancelled); the connection is idle.
        case failed
        /// The connection is gone (or was closed because the stream cannot be trusted).
        case broken(reason: String)
    }

    enum CopyPhase {
        case beforeFirstArchive
        case archive
        case manifest
    }

    let postgres: PostgresConnection
    var state = State.idle
    /// The libpq buffer behind the last data event, freed at the next call.
    private var heldBuffer: UnsafeMutablePointer<CChar>?
    private var currentCanceller: BaseBackupCanceller?
    /// For messages: "take base backup 'label'".
    var action = "take a base backup"
    /// Set while `cancel()` drains the stream: no wait goes past it.
    var drainDeadline: ContinuousClock.Instant?
    /// The running backup's tablespaces (to name a tablespace's files in checksum warnings).
    private var tablespaces: [BaseBackupTablespace] = []
    /// What the running backup's WARNING notices said about pages whose checksum failed.
    private var checksumFailures = PageChecksumFailures()

    /// How long `next()` may wait without receiving anything before it throws
    /// `ReplicationError.timedOut`; nil waits as long as it takes. Leave room for the start: with
    /// `CHECKPOINT 'spread'` the first event arrives only after a whole spread checkpoint, and
    /// with `PROGRESS` the tablespace list only after the server has walked the data directory.
    public var stallTimeout: Duration?
    /// How long the short exchanges at the end may take: the results after the COPY, and the
    /// server's abort after `cancel()`.
    public var protocolTimeout: Duration = .seconds(30)

    /// Takes over `connection`, which must be an idle replication connection (`.physical` or
    /// `.database`) to a PostgreSQL 15 or later server. `openConnection` opens one with
    /// operator-friendly errors.
    public init(connection: PostgresConnection) {
        self.postgres = connection
    }

    deinit {
        if let heldBuffer { PQfreemem(heldBuffer) }
        postgres.noticeHandler = nil
        // The connection is mid-COPY and useless to anyone else: closing it makes the server
        // abort the backup (and release its WAL sender) at once.
        if isRunning { postgres.close() }
    }

    /// The connection, idle, for other commands or another `start`.
    /// - Throws: `ReplicationError.misuse` while a backup runs.
    public var connection: PostgresConnection {
        get throws {
            if isRunning { throw ReplicationError.misuse("the connection is busy with a base backup; finish or cancel() it first") }
            return postgres
        }
    }

    /// True from `start` until `.finished`, an error, or `cancel()`.
    public var isRunning: Bool {
        switch state {
        case .awaitingStart, .awaitingTablespaces, .awaitingCopy, .copying: return true
        case .idle, .finished, .failed, .broken: return false
        }
    }

    /// Cancels the running backup from another thread (see `BaseBackupCanceller`); nil when no
    /// backup was started.
    public var canceller: BaseBackupCanceller? { currentCanceller }

    // MARK: starting

    /// Sends `BASE_BACKUP (…)` and returns without waiting: the server's answer (or refusal)
    /// arrives through `next()`.
    ///
    /// - Throws: `BaseBackupError.invalidOptions`, `.unsupportedServer` (before 15: older
    ///   servers speak another syntax and framing), `ReplicationError.misuse` while a backup
    ///   runs, `PostgresError.connectionLost`.
    public func start(_ options: BaseBackupOptions) throws {
        switch state {
        case .idle, .finished, .failed: break
        case .broken(let reason): throw PostgresError.connectionLost(reason: reason)
        case .awaitingStart, .awaitingTablespaces, .awaitingCopy, .copying:
            throw ReplicationError.misuse("start() while a base backup runs")
        }
        let command = try options.command()
        let connection = try postgres.handle
        let version = Int(PQserverVersion(connection))
        guard version >= 150_000 else { throw BaseBackupError.unsupportedServer(version: version) }
        releaseHeldBuffer()
        action = "take base backup '\(options.label)'"
        drainDeadline = nil
        tablespaces = []
        checksumFailures = PageChecksumFailures()
        // Weak: the stream owns the connection, and whoever takes the connection afterwards
        // (`connection`) may keep it longer than the stream.
        postgres.noticeHandler = { [weak self] notice in self?.received(notice) }
        // A fresh canceller per backup: a cancel meant for an earlier one must not count here.
        currentCanceller = BaseBackupCanceller(connection: connection)
        // PQsendQuery, not PQexec: the answer is several results and a COPY, read one by one.
        guard PQsendQuery(connection, command) == 1 else {
            throw lost(PostgresConnection.errorMessage(connection))
        }
        state = .awaitingStart
    }

    // MARK: reading

    /// The next event, or nil once `.finished` was handed out. Blocks until the server sends
    /// something (at most `stallTimeout`). Data events stay valid until the next call.
    ///
    /// - Throws:
    ///   - `ReplicationError.commandFailed` with the server's SQLSTATE and message when it refused
    ///     or aborted the backup (e.g. 22023 for a label over 1024 bytes, 57014 when someone else
    ///     cancelled it, 58P01 for a file that vanished unexpectedly); the connection is idle.
    ///     Not for XX001 after the end position (pages whose checksum failed): that backup is
    ///     complete, and `.finished` names them.
    ///   - `BaseBackupError.cancelled` after `canceller.cancel()`; the connection is idle.
    ///   - `PostgresError.connectionLost` when the connection broke or the server ended the
    ///     session (shutdown, `pg_terminate_backend`); the stream is unusable.
    ///   - `BaseBackupError.malformedStream` for a message out of PostgreSQL 15's framing; the
    ///     stream closes its connection, which aborts the backup on the server.
    ///   - `ReplicationError.timedOut` after `stallTimeout` without a byte; the stream closes its
    ///     connection.
    ///   - `ReplicationError.misuse` before `start`, or after an error.
    public func next() throws -> BaseBackupEvent? {
        releaseHeldBuffer()
        switch state {
        case .idle: throw ReplicationError.misuse("next() before start()")
        case .failed: throw ReplicationError.misuse("next() after the base backup failed")
        case .finished: return nil
        case .broken(let reason): throw PostgresError.connectionLost(reason: reason)
        case .awaitingStart:
            let result = try expectResult(waitingFor: "the start of the base backup (the checkpoint)")
            defer { PQclear(result) }
            let (lsn, timeline) = try positionRow(result, what: "start")
            state = .awaitingTablespaces
            return .started(startLSN: lsn, timeline: timeline)
        case .awaitingTablespaces:
            let result = try expectResult(waitingFor: "the list of tablespaces")
            defer { PQclear(result) }
            let tablespaces = try tablespaceRows(result)
            self.tablespaces = tablespaces
            state = .awaitingCopy
            return .tablespaces(tablespaces)
        case .awaitingCopy:
            let result = try expectResult(waitingFor: "the archives")
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COPY_OUT else {
                throw malformed("\(statusName(PQresultStatus(result))) where the archives' COPY OUT should begin")
            }
            state = .copying(.beforeFirstArchive)
            return try nextCopyEvent(phase: .beforeFirstArchive)
        case .copying(let phase):
            return try nextCopyEvent(phase: phase)
        }
    }

    // MARK: cancelling

    /// Cancels the running backup from the owner thread (e.g. when the consumer of the archives
    /// failed): sends a cancel request, discards what the server still sends until it reports
    /// the abort, and leaves the connection idle. Does nothing when no backup runs.
    ///
    /// The server aborts the backup itself (its WAL sender leaves the `backup` state for
    /// `startup` in pg_stat_replication). PostgreSQL 15 quirk: pg_stat_progress_basebackup keeps
    /// showing the aborted backup, frozen, until the WAL sender runs another backup or its
    /// connection closes; it is not a backup still running.
    ///
    /// - Returns: true when the server aborted the backup; false when it had already completed
    ///   it before the request arrived (its remaining events were discarded all the same, so the
    ///   backup is unusable either way) or none ran.
    /// - Throws: `BaseBackupError.cancelRequestFailed`; `ReplicationError.timedOut` when the
    ///   server does not abort within `protocolTimeout` (the stream then closes the connection,
    ///   which ends the backup for certain); `PostgresError.connectionLost`.
    @discardableResult
    public func cancel() throws -> Bool {
        releaseHeldBuffer()
        guard isRunning, let canceller = currentCanceller else { return false }
        try canceller.cancel()
        drainDeadline = ContinuousClock.now + protocolTimeout
        defer { drainDeadline = nil }
        do {
            while try next() != nil {}
            return false
        } catch BaseBackupError.cancelled {
            return true
        } catch let error as ReplicationError {
            if case .timedOut = error { abandon(reason: "the server did not abort the cancelled base backup") }
            throw error
        }
    }

    // MARK: - plumbing

    private func releaseHeldBuffer() {
        if let heldBuffer { PQfreemem(heldBuffer) }
        heldBuffer = nil
    }

    /// Reads CopyData until one makes an event, or the COPY ends.
    private func nextCopyEvent(phase: CopyPhase) throws -> BaseBackupEvent {
        let connection = try postgres.handle
        let deadline = waitDeadline()
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 1)
            if length > 0, let buffer {
                heldBuffer = buffer
                return try event(from: UnsafeRawBufferPointer(start: buffer, count: Int(length)), phase: phase)
            }
            switch length {
            case 0:
                try waitForInput(until: deadline, waitingFor: "archive data")
            case -1:
                // CopyDone, or an ErrorResponse that ended the COPY.
                return try finishCopy(phase: phase)
            default:
                throw lost(PostgresConnection.errorMessage(connection))
            }
        }
    }

    private func event(from payload: UnsafeRawBufferPointer, phase: CopyPhase) throws -> BaseBackupEvent {
        let message: BaseBackupMessage
        do {
            message = try BaseBackupMessage(parsing: payload)
        } catch {
            throw malformed(error)
        }
        switch (message, phase) {
        case (.newArchive(let name, let location), .beforeFirstArchive), (.newArchive(let name, let location), .archive):
            state = .copying(.archive)
            return .archiveStarted(name: name, tablespaceLocation: location)
        case (.data(let bytes), .archive):
            return .archiveData(bytes)
        case (.data(let bytes), .manifest):
            return .manifestData(bytes)
        case (.progress(let done), _):
            return .progress(bytesDone: done)
        case (.manifestFollows, .archive), (.manifestFollows, .beforeFirstArchive):
            state = .copying(.manifest)
            return .manifestStarted
        case (.data, .beforeFirstArchive):
            throw malformed("archive data before the first new-archive message ('n')")
        case (.newArchive(let name, _), .manifest):
            throw malformed("a new archive '\(name)' after the manifest")
        case (.manifestFollows, .manifest):
            throw malformed("a second manifest message ('m')")
        }
    }

    /// After the COPY: the end row, then CommandComplete, then ReadyForQuery (or an error).
    /// An ERROR of SQLSTATE XX001 after the end row is PostgreSQL's "checksum verification
    /// failure during base backup": every byte was sent, the backup is complete.
    private func finishCopy(phase: CopyPhase) throws -> BaseBackupEvent {
        var end: (LSN, TimelineID)?
        var checksumsFailed = false
        let connection = try postgres.handle
        let deadline = ContinuousClock.now + protocolTimeout
        while let result = try nextResult(until: deadline, waitingFor: "the end of the base backup") {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK where end == nil:
                end = try positionRow(result, what: "end")
            case PGRES_COMMAND_OK:
                continue
            case PGRES_FATAL_ERROR where end != nil && !checksumsFailed && Self.isChecksumFailure(result, connection: connection):
                checksumsFailed = true  // the results end (ReadyForQuery) right after it
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                throw failure(from: result)
            case let status:
                throw malformed("\(statusName(status)) after the archives")
            }
        }
        guard let (lsn, timeline) = end else {
            throw malformed("the COPY ended without the row giving the backup's end position")
        }
        if phase == .beforeFirstArchive {
            throw malformed("the backup ended without sending any archive")
        }
        state = .finished
        var failures: PageChecksumFailures?
        if checksumsFailed || !checksumFailures.isEmpty {
            failures = checksumFailures
            failures?.total = max(checksumFailures.total, 1)
        }
        return .finished(endLSN: lsn, timeline: timeline, checksumFailures: failures)
    }

    /// The server's ERROR "checksum verification failure during base backup" (SQLSTATE
    /// XX001, data corrupted), on a connection that is still up.
    private static func isChecksumFailure(_ result: OpaquePointer, connection: OpaquePointer) -> Bool {
        guard PQstatus(connection) == CONNECTION_OK else { return false }
        return PostgresConnection.report(from: result).sqlState == "XX001"
    }

    /// A notice from the server while a backup runs: the checksum warnings are kept, the rest
    /// (e.g. "WAL archiving is not enabled") is of no use here.
    private func received(_ notice: ServerErrorReport) {
        guard isRunning, notice.severity == "WARNING" else { return }
        _ = checksumFailures.record(warning: notice.message, tablespaces: tablespaces)
    }

    /// The next result, which must not be the end of the results; an error result throws.
    private func expectResult(waitingFor what: String) throws -> OpaquePointer {
        guard let result = try nextResult(until: waitDeadline(), waitingFor: what) else {
            throw malformed("the server finished answering before sending \(what)")
        }
        switch PQresultStatus(result) {
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            defer { PQclear(result) }
            throw failure(from: result)
        default:
            return result
        }
    }

    /// The error of a failed result, with the stream's state updated: broken when the
    /// connection is gone; otherwise failed, with the remaining results read so the connection
    /// is idle again.
    private func failure(from result: OpaquePointer) -> any Error {
        guard let connection = try? postgres.handle else { return PostgresError.closed }
        var error = PostgresConnection.replicationError(from: result, connection: connection, action: action)
        if case PostgresError.connectionLost(let reason)? = error as? PostgresError {
            state = .broken(reason: reason)
            return error
        }
        if let refusal = error as? ReplicationError, refusal.sqlState == "57014", currentCanceller?.wasRequested == true {
            error = BaseBackupError.cancelled
        }
        state = .failed
        // The server is back at its command loop: read up to ReadyForQuery.
        do {
            let deadline = ContinuousClock.now + protocolTimeout
            while let next = try nextResult(until: deadline, waitingFor: "the server to end the failed base backup") {
                PQclear(next)
            }
        } catch let drainError {
            return drainError
        }
        return error
    }
}

@available(*, unavailable, message: "a BaseBackupStream has one owner thread; use its canceller from others")
extension BaseBackupStream: Sendable {}
