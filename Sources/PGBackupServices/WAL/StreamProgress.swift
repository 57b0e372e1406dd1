import PGBackupFoundations

/// The three positions of a WAL stream and the rule that keeps DESIGN.md's invariant 1:
/// the server is told *flush* only for WAL that is durable in the repository.
///
/// - `received`: the end of the WAL handed to the spool (in the page cache, not yet durable);
/// - `written`: the end of the WAL fsync'd in the spool — reported as the standby's *write*
///   position, which is what `synchronous_commit = remote_write` waits for;
/// - `archived`: the end of the WAL durable in the repository (completed segments and the
///   stored partial) — reported as *flush*, which moves the slot's `restart_lsn`.
///
/// Pure value: the receiver's state machine (`WALReceiverStateMachine`) moves `received` and
/// `written` in its own copy, the uploader moves `archived` in the one shared under a lock
/// (`SharedProgress`), and the tests drive it directly.
public struct StreamProgress: Sendable, Equatable {
    public private(set) var received: LSN
    public private(set) var written: LSN
    public private(set) var archived: LSN
    /// Where the current stream started. WAL before it is not the stream's business: when the
    /// repository's end lies before it (an empty repository, or WAL the server no longer had),
    /// *flush* reports this instead, because PostgreSQL moves a physical slot to whatever flush
    /// position it is told, backwards too.
    public private(set) var streamStart: LSN
    /// The segment whose partial copy was stored last, and how many bytes that copy holds. A new
    /// stream restarts the segment from its start: its first copies are shorter and must not
    /// replace the longer one (WAL a synchronous commit may have been acknowledged for).
    public private(set) var storedPartial: WALSegmentName?
    public private(set) var storedPartialLength = 0

    /// Starts a stream at `start`, with the repository durable up to `archived`.
    public init(start: LSN, archived: LSN) {
        self.received = start
        self.written = start
        self.archived = archived
        self.streamStart = start
    }

    /// A (re)connection restarts receiving at `start`; what the repository holds stays.
    public mutating func restart(at start: LSN) {
        received = start
        written = start
        streamStart = start
    }

    /// Takes the receiving side (`received`, `written`, `streamStart`) of `receiver`, the
    /// receiver's own copy; what the repository holds stays (the uploader's to move).
    public mutating func takeStream(of receiver: StreamProgress) {
        received = receiver.received
        written = receiver.written
        streamStart = receiver.streamStart
    }

    /// WAL up to `end` was handed to the spool.
    public mutating func didReceive(upTo end: LSN) {
        received = max(received, end)
    }

    /// The spool was fsync'd: everything received is durable locally.
    public mutating func didSyncSpool() {
        written = received
    }

    /// A fsync'd spool prefix up to `end` is durable locally (a completed segment).
    public mutating func didSyncSpool(upTo end: LSN) {
        written = max(written, min(end, received))
    }

    /// The repository durably holds WAL up to `end`.
    public mutating func didArchive(upTo end: LSN) {
        archived = max(archived, end)
    }

    /// The repository now holds the first `length` bytes of `segment` as its partial copy.
    public mutating func didStorePartial(_ segment: WALSegmentName, length: Int) {
        if storedPartial == segment && storedPartialLength >= length { return }
        storedPartial = segment
        storedPartialLength = length
    }

    /// Whether the repository already holds at least the first `length` bytes of `segment` as a
    /// partial copy (storing them again would gain nothing, or shorten it).
    public func holdsPartial(_ segment: WALSegmentName, length: Int) -> Bool {
        storedPartial == segment && storedPartialLength >= length
    }

    /// The standby status update to send: *write* is the spool, *flush* the repository (or the
    /// stream's start, see `streamStart`), and write is never reported below flush.
    public var status: (write: LSN, flush: LSN) {
        let flush = max(archived, streamStart)
        return (write: max(written, flush), flush: flush)
    }
}
