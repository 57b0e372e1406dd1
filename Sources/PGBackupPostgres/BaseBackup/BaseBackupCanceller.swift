import CLibPQ
import Synchronization

/// Cancels a running base backup from any thread: `BaseBackupStream.canceller` hands one out
/// while the stream's owner thread blocks in `next()`.
///
/// It holds libpq's `PGcancel` (a copy of the server's address and the backend's cancel key,
/// independent of the connection), so it stays valid after the stream and its connection are
/// gone; a cancel request then reaches no running statement and does nothing.
///
/// Sendable without `@unchecked`: all of its state is behind a `Mutex`, which also keeps
/// `PQcancel` and `PQfreeCancel` from running at the same time (libpq allows `PQcancel` from
/// any thread, but not while the same `PGcancel` is being freed).
public final class BaseBackupCanceller: Sendable {
    /// libpq's `PGcancel *`.
    ///
    /// `@unchecked Sendable`, proof: the pointer is created in `init` and from then on read,
    /// used (`PQcancel`) and freed (`PQfreeCancel`, in `deinit`) only inside `state.withLock`,
    /// so no two threads ever touch the `PGcancel` at once. (The region checker cannot see that
    /// a pointer obtained from the caller's `PGconn` is a new, unshared object.)
    private struct CancelHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private struct State: Sendable {
        var cancel: CancelHandle?
        var requested = false
    }

    private let state: Mutex<State>

    /// - Parameter connection: the live `PGconn` of the backup.
    init(connection: OpaquePointer) {
        state = Mutex(State(cancel: PQgetCancel(connection).map(CancelHandle.init)))
    }

    deinit {
        state.withLock { state in
            if let cancel = state.cancel { PQfreeCancel(cancel.pointer) }
            state.cancel = nil
        }
    }

    /// Whether `cancel()` was called, successfully or not.
    var wasRequested: Bool { state.withLock { $0.requested } }

    /// Sends a cancel request (`PQcancel`: a new connection to the server carrying the cancel
    /// key) and returns once the server has received it. The server then aborts the backup at
    /// its next interrupt check: the stream's owner sees `BaseBackupError.cancelled` from
    /// `next()` soon after. Blocks for one round trip to the server.
    ///
    /// - Throws: `BaseBackupError.cancelRequestFailed` when the request could not be delivered.
    public func cancel() throws(BaseBackupError) {
        let failure: String? = state.withLock { state in
            state.requested = true
            guard let cancel = state.cancel else { return "libpq gave no cancel handle for this connection" }
            var message = [CChar](repeating: 0, count: 256)
            guard PQcancel(cancel.pointer, &message, Int32(message.count)) == 1 else {
                return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            return nil
        }
        if let failure { throw .cancelRequestFailed(reason: failure) }
    }
}
