import CLibPQ
import Foundation
import PGBackupFoundations

/// A physical WAL stream: `START_REPLICATION … PHYSICAL`, then XLogData and keepalives in, and
/// standby status updates out, over libpq's COPY BOTH mode.
///
/// Made for one dedicated thread that loops on `receive`, writes the WAL somewhere durable and
/// acknowledges it with `sendStatus`. Not `Sendable`; every call blocks that thread (`receive`
/// at most for its timeout, plus the time to read one message; `sendStatus` until the socket
/// takes 34 bytes).
///
/// The stream owns its connection: the caller hands it over at `init` and keeps no other use of
/// it. Between streams (before `start`, after `.endOfTimeline`, `.endOfStream`, a refused stream
/// or `stop()`) `connection` gives it back for commands such as `timelineHistory`.
///
/// Acknowledgements are the caller's: the server never learns that WAL was received unless
/// `sendStatus` says so, and it moves the slot to whatever *flush* position it is told
/// (see `StandbyStatusUpdate`).
public final class ReplicationStream {
    private enum State {
        /// No COPY in progress: the connection takes commands.
        case idle
        /// Inside the COPY of START_REPLICATION.
        case streaming(timeline: TimelineID, start: LSN)
        /// START_REPLICATION on a finished timeline answered without a COPY: this is what the
        /// next `receive` returns.
        case ended(ReplicationEvent)
        /// The connection is gone.
        case broken(reason: String)
    }

    private let postgres: PostgresConnection
    private var state = State.idle
    /// The end of the last WAL handed out in this stream, to check the server's switch point.
    private var receivedEnd: LSN?

    /// How long the short exchanges that end a COPY may take (the server's answer to our
    /// CopyDone, the next-timeline row) before `ReplicationError.timedOut`.
    public var protocolTimeout: Duration = .seconds(30)

    /// Takes over `connection`, which must be a replication connection (`.physical` or
    /// `.database`) and idle.
    public init(connection: PostgresConnection) {
        self.postgres = connection
    }

    /// The connection, for commands between streams.
    /// - Throws: `ReplicationError.misuse` while streaming.
    public var connection: PostgresConnection {
        get throws {
            if case .streaming = state { throw ReplicationError.misuse("the connection is streaming; stop() it first") }
            return postgres
        }
    }

    /// True between a successful `start` and the end of that stream.
    public var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    // MARK: starting

    /// `START_REPLICATION [SLOT slot] PHYSICAL lsn TIMELINE timeline`.
    ///
    /// Start at a segment boundary to archive whole segments. With a slot, the server keeps WAL
    /// from the slot's restart LSN on, and the slot shows as active while streaming.
    ///
    /// Some refusals come back at once (`ReplicationError.commandFailed`: a missing slot, 42704;
    /// a slot in use, 55006; a timeline that is not in the server's history). Others are only
    /// found after the server has entered COPY mode, and arrive as the error of the first
    /// `receive`: WAL already removed (58P01, "requested WAL segment … has already been
    /// removed"), or a start ahead of the server's flush position. When `timeline` ended at or
    /// before `lsn`, the server answers without streaming; then the first `receive` returns
    /// `.endOfTimeline` at once.
    public func start(slot: String?, at lsn: LSN, timeline: TimelineID) throws {
        switch state {
        case .idle: break
        case .broken(let reason): throw PostgresError.connectionLost(reason: reason)
        case .streaming, .ended: throw ReplicationError.misuse("start() while a stream is open")
        }
        if let slot { try validateSlotName(slot) }
        let command = "START_REPLICATION " + (slot.map { "SLOT \($0) " } ?? "") + "PHYSICAL \(lsn) TIMELINE \(timeline.rawValue)"
        let action = "start streaming WAL from \(lsn) on timeline \(timeline)" + (slot.map { " (slot '\($0)')" } ?? "")
        let connection = try postgres.handle
        // PQsendQuery, not PQexec: on a finished timeline the answer is two results (the
        // next-timeline row, then CommandComplete), and PQexec would keep only the last.
        guard PQsendQuery(connection, command) == 1 else {
            throw lost(PostgresConnection.errorMessage(connection))
        }
        receivedEnd = nil
        let deadline = ContinuousClock.now + protocolTimeout
        guard let result = try nextResult(deadline: deadline, waitingFor: "the answer to START_REPLICATION") else {
            throw PostgresError.unexpectedResponse("no result in answer to START_REPLICATION")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COPY_BOTH:
            state = .streaming(timeline: timeline, start: lsn)
        case PGRES_TUPLES_OK:
            // Nothing to stream: the timeline ended at or before `lsn`. The row names the next
            // timeline; CommandComplete and ReadyForQuery follow.
            let event = try nextTimelineEvent(from: result, current: timeline, streamedUpTo: lsn)
            try finishResults(action: action)
            state = .ended(event)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            let error = remember(PostgresConnection.replicationError(from: result, connection: connection, action: action))
            if !(error is PostgresError) { try? finishResults(action: action) }
            throw error
        case let status:
            throw PostgresError.unexpectedResponse("\(statusName(status)) in answer to START_REPLICATION")
        }
    }

    // MARK: receiving

    /// The next event, or nil when none arrived within `timeout` (zero only takes what is
    /// already there). Waits in poll(2) on the connection's socket, never spinning.
    ///
    /// - Throws: `PostgresError.connectionLost` when the connection broke or the server ended
    ///   the session (e.g. `pg_terminate_backend`, `wal_sender_timeout`); then the stream is
    ///   unusable. `ReplicationError.commandFailed` when the server ended the stream with an
    ///   error (e.g. 58P01, WAL already removed); then the connection is idle again.
    ///   `ReplicationError.malformedMessage` for a payload that is no replication message; the
    ///   stream cannot be trusted after it: drop it (and its connection).
    public func receive(timeout: Duration) throws -> ReplicationEvent? {
        let timeline: TimelineID
        let start: LSN
        switch state {
        case .streaming(let current, let from):
            timeline = current
            start = from
        case .ended(let event):
            state = .idle
            return event
        case .idle: throw ReplicationError.misuse("receive() without a started stream")
        case .broken(let reason): throw PostgresError.connectionLost(reason: reason)
        }
        let connection = try postgres.handle
        let deadline = ContinuousClock.now + timeout
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 1)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                return try event(from: UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            }
            switch length {
            case 0:
                // No complete message buffered: wait for the socket, then read what came.
                guard waitUntilReadable(PQsocket(connection), until: deadline) else { return nil }
                guard PQconsumeInput(connection) != 0 else {
                    throw lost(PostgresConnection.errorMessage(connection))
                }
            case -1:
                // The server ended the COPY: CopyDone, CommandComplete or an error.
                return try finishServerEndedCopy(timeline: timeline, start: start)
            default:
                throw lost(PostgresConnection.errorMessage(connection))
            }
        }
    }

    // MARK: acknowledging

    /// Sends a standby status update (`'r'`) and flushes it to the socket.
    ///
    /// - Parameters:
    ///   - write: everything before this position is received and written (e.g. spooled).
    ///   - flush: everything before this position is durable for good; the slot's restart LSN
    ///     moves here, and the server may recycle older WAL. Never report more than is durable,
    ///     and never less than a previous report (the slot would move backwards). 0/0 leaves the
    ///     slot alone.
    ///   - apply: 0/0 (invalid) for a client that applies nothing, as pg_receivewal does.
    ///   - replyRequested: ask the server to answer with a keepalive right away.
    public func sendStatus(write: LSN, flush: LSN, apply: LSN = .zero, replyRequested: Bool = false) throws {
        guard case .streaming = state else {
            if case .broken(let reason) = state { throw PostgresError.connectionLost(reason: reason) }
            throw ReplicationError.misuse("sendStatus() without a started stream")
        }
        let connection = try postgres.handle
        let message = StandbyStatusUpdate(write: write, flush: flush, apply: apply, replyRequested: replyRequested).encoded()
        let sent = message.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) }
        }
        // The connection is in blocking mode: PQputCopyData and PQflush return once the bytes are
        // in the kernel (or fail), never with "try again".
        guard sent == 1, PQflush(connection) == 0 else {
            throw lost(PostgresConnection.errorMessage(connection))
        }
    }

    // MARK: stopping

    /// Ends the stream from the client side: sends CopyDone, discards whatever WAL the server
    /// still sends before its own CopyDone (the caller never saw it, so must not acknowledge
    /// it), and reads the results up to ReadyForQuery. The connection is then idle and usable.
    /// Does nothing when no stream is open.
    ///
    /// - Throws: `ReplicationError.timedOut` when the server does not finish within
    ///   `protocolTimeout`; `PostgresError.connectionLost`.
    public func stop() throws {
        guard case .streaming = state else {
            if case .ended = state { state = .idle }
            return
        }
        let connection = try postgres.handle
        guard PQputCopyEnd(connection, nil) == 1, PQflush(connection) == 0 else {
            throw lost(PostgresConnection.errorMessage(connection))
        }
        let deadline = ContinuousClock.now + protocolTimeout
        // libpq is in COPY OUT now: drain data until the server's CopyDone (-1).
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 1)
            if let buffer { PQfreemem(buffer) }
            if length > 0 { continue }
            if length == -1 { break }
            if length < -1 { throw lost(PostgresConnection.errorMessage(connection)) }
            guard waitUntilReadable(PQsocket(connection), until: deadline) else {
                throw ReplicationError.timedOut(waitingFor: "the server to end the stream after our CopyDone")
            }
            guard PQconsumeInput(connection) != 0 else { throw lost(PostgresConnection.errorMessage(connection)) }
        }
        // Then: a next-timeline row when the streamed timeline had become historic (ignored: the
        // caller asked to stop), CommandComplete, ReadyForQuery.
        state = .idle
        try finishResults(action: "stop streaming")
    }

    // MARK: - plumbing

    private func event(from payload: UnsafeRawBufferPointer) throws -> ReplicationEvent {
        let message: ReplicationMessage
        do {
            message = try ReplicationMessage(parsing: payload)
        } catch {
            throw ReplicationError.malformedMessage(error)
        }
        switch message {
        case .xLogData(let data):
            receivedEnd = data.end
            return .walData(data)
        case .keepalive(let keepalive):
            return .keepalive(walEnd: keepalive.walEnd, serverTime: keepalive.serverTime, replyRequested: keepalive.replyRequested)
        }
    }

    /// After PQgetCopyData returned -1: what ended the COPY, and the results that follow.
    ///
    /// A server-initiated end arrives as CopyDone, which leaves libpq in COPY IN: answer with our
    /// CopyDone (PQputCopyEnd), then read the next-timeline row (only at the end of a timeline)
    /// and CommandComplete. A server shutting down sends CommandComplete without CopyDone and
    /// closes. An ErrorResponse ends the COPY too.
    private func finishServerEndedCopy(timeline: TimelineID, start: LSN) throws -> ReplicationEvent {
        let connection = try postgres.handle
        let deadline = ContinuousClock.now + protocolTimeout
        var nextTimeline: ReplicationEvent?
        var first = true
        while let result = try nextResult(deadline: deadline, waitingFor: "the server's results after it ended the stream") {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_COPY_IN where first:
                guard PQputCopyEnd(connection, nil) == 1, PQflush(connection) == 0 else {
                    throw lost(PostgresConnection.errorMessage(connection))
                }
            case PGRES_TUPLES_OK where nextTimeline == nil:
                nextTimeline = try nextTimelineEvent(from: result, current: timeline, streamedUpTo: receivedEnd ?? start)
            case PGRES_COMMAND_OK:
                state = .idle
                // ReadyForQuery follows, unless the server is shutting down and just closes.
                if nextTimeline == nil { return try finishAfterEndOfStream() }
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                let error = PostgresConnection.replicationError(
                    from: result, connection: connection, action: "stream WAL from \(start) on timeline \(timeline)")
                state = .idle
                if !(error is PostgresError) {
                    // The server refused and is back at its command loop: read up to ReadyForQuery.
                    try? finishResults(action: "end the refused stream")
                }
                throw remember(error)
            default:
                throw remember(PostgresError.unexpectedResponse("\(statusName(status)) after the server ended the stream"))
            }
            first = false
        }
        state = .idle
        return nextTimeline ?? .endOfStream
    }

    /// After CommandComplete without a next timeline: ReadyForQuery, or the connection closing
    /// because the server shuts down. Either way the stream ended cleanly.
    private func finishAfterEndOfStream() throws -> ReplicationEvent {
        do {
            try finishResults(action: "end the stream")
        } catch let error as PostgresError {
            guard case .connectionLost(let reason) = error else { throw error }
            state = .broken(reason: reason)
        }
        return .endOfStream
    }

    /// Reads the remaining results up to ReadyForQuery (PQgetResult returning NULL), throwing on
    /// an error result.
    private func finishResults(action: String) throws {
        let connection = try postgres.handle
        let deadline = ContinuousClock.now + protocolTimeout
        while let result = try nextResult(deadline: deadline, waitingFor: "the server to \(action)") {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                throw remember(PostgresConnection.replicationError(from: result, connection: connection, action: action))
            default:
                continue
            }
        }
    }

    /// PQgetResult without blocking past `deadline`: waits in poll(2) while libpq is busy.
    private func nextResult(deadline: ContinuousClock.Instant, waitingFor what: String) throws -> OpaquePointer? {
        let connection = try postgres.handle
        while PQisBusy(connection) != 0 {
            guard waitUntilReadable(PQsocket(connection), until: deadline) else {
                throw ReplicationError.timedOut(waitingFor: what)
            }
            guard PQconsumeInput(connection) != 0 else { throw lost(PostgresConnection.errorMessage(connection)) }
        }
        return PQgetResult(connection)
    }

    /// The row `next_tli`, `next_tli_startpos` that ends a historic timeline, checked against
    /// what was streamed: a later timeline, starting no later than where the stream ended.
    private func nextTimelineEvent(from result: OpaquePointer, current: TimelineID, streamedUpTo end: LSN) throws -> ReplicationEvent {
        guard PQntuples(result) == 1, PQnfields(result) >= 2,
              PQgetisnull(result, 0, 0) == 0, PQgetisnull(result, 0, 1) == 0
        else {
            throw PostgresError.unexpectedResponse(
                "end-of-timeline result of \(PQntuples(result)) rows and \(PQnfields(result)) columns, expected 1 row of 2")
        }
        let tliText = String(cString: PQgetvalue(result, 0, 0))
        let lsnText = String(cString: PQgetvalue(result, 0, 1))
        guard let tli = UInt32(tliText), let start = LSN(lsnText) else {
            throw PostgresError.unexpectedResponse("end-of-timeline result next_tli='\(tliText)' next_tli_startpos='\(lsnText)'")
        }
        let next = TimelineID(tli)
        guard next > current else {
            throw ReplicationError.inconsistentTimelineSwitch("timeline \(current) ended, and the next is said to be \(next)")
        }
        guard start <= end else {
            throw ReplicationError.inconsistentTimelineSwitch(
                "timeline \(current) was streamed up to \(end), but timeline \(next) is said to begin at \(start): WAL in between is missing")
        }
        return .endOfTimeline(nextTimeline: next, nextTimelineStart: start)
    }

    /// Marks the stream broken when `error` means the connection is gone.
    private func remember(_ error: any Error) -> any Error {
        if case PostgresError.connectionLost(let reason)? = error as? PostgresError {
            state = .broken(reason: reason)
        }
        return error
    }

    private func lost(_ reason: String) -> PostgresError {
        state = .broken(reason: reason)
        return .connectionLost(reason: reason)
    }
}

@available(*, unavailable, message: "a ReplicationStream has one owner thread")
extension ReplicationStream: Sendable {}
