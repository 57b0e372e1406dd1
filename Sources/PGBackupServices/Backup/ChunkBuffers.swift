import Synchronization

/// The chunk buffers of one backup, recycled: a stored chunk's buffer is emptied and filled
/// again instead of a fresh allocation per chunk (no page faults and zeroing of 4 MiB each
/// time, and malloc keeps no freed buffers of its own). How many are out at once is the
/// caller's bound (`ChunkUploadPool`'s permits); this only keeps the free ones.
final class ChunkBuffers: Sendable {
    /// What the buffers did so far.
    struct Counts: Sendable, Equatable {
        /// Buffers whose storage was allocated: new ones, and recycled ones that had to be
        /// reallocated (still referenced elsewhere, or too small).
        var allocations = 0
        /// Buffers handed out again with their storage.
        var reuses = 0
        /// Buffers out (taken, not yet recycled) now, and at most.
        var outstanding = 0
        var mostOutstanding = 0
    }

    private struct State {
        var free: [[UInt8]] = []
        var counts = Counts()
    }

    private let state = Mutex(State())

    var counts: Counts { state.withLock { $0.counts } }

    /// An empty buffer of at least `capacity` bytes: a recycled one when there is one.
    func take(capacity: Int) -> [UInt8] {
        var recycled = state.withLock { state -> [UInt8]? in
            state.counts.outstanding += 1
            state.counts.mostOutstanding = max(state.counts.mostOutstanding, state.counts.outstanding)
            return state.free.popLast()
        }
        var buffer = recycled.take() ?? []
        let storage = buffer.withUnsafeBufferPointer { $0.baseAddress }
        // Keeps the storage when the buffer is referenced only here (the store let it go).
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(capacity)
        let reused = storage != nil && buffer.withUnsafeBufferPointer { $0.baseAddress } == storage
        state.withLock { state in
            if reused { state.counts.reuses += 1 } else { state.counts.allocations += 1 }
        }
        return buffer
    }

    /// Gives a buffer back once its chunk is stored; the caller keeps no reference to it.
    func recycle(_ buffer: consuming [UInt8]) {
        var slot: [UInt8]? = consume buffer
        state.withLock { state in
            state.counts.outstanding -= 1
            state.free.append(slot.take()!)
        }
    }

    /// A buffer that will not come back (its chunk failed).
    func forget() {
        state.withLock { $0.counts.outstanding -= 1 }
    }
}
