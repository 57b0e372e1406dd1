import PGBackupFoundations
import Synchronization

/// The chunks a `ChunkStore` is storing right now, one caller per digest at a time, so that
/// identical chunks in flight at once (the zero-filled chunks of a backup, say) are uploaded
/// once: the first caller uploads, the next ones wait their turn and then find it stored. If the
/// upload failed, the next caller uploads it itself.
///
/// Waiting is not cancellable, but never long: a cancelled backup cancels the upload it waits for.
final class ChunkUploadsInFlight: Sendable {
    /// For each digest in flight, the callers waiting for it, first come first served.
    private let queues = Mutex<[SHA256Digest: [CheckedContinuation<Void, Never>]]>([:])

    /// Returns once the caller is the only one storing `sha256`; it must call `end` after.
    func begin(_ sha256: SHA256Digest) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let first = queues.withLock { queues in
                guard queues[sha256] != nil else {
                    queues[sha256] = []
                    return true
                }
                queues[sha256]!.append(continuation)
                return false
            }
            if first { continuation.resume() }
        }
    }

    /// The caller is done with `sha256` (stored or failed): the next waiter, if any, goes on.
    func end(_ sha256: SHA256Digest) {
        let next = queues.withLock { queues -> CheckedContinuation<Void, Never>? in
            guard var waiting = queues[sha256], !waiting.isEmpty else {
                queues[sha256] = nil
                return nil
            }
            let next = waiting.removeFirst()
            queues[sha256] = waiting
            return next
        }
        next?.resume()
    }
}
