import Foundation
import PGBackupFoundations

/// A standby status update (`'r'`), the client's acknowledgement: 34 bytes.
///
/// Wire format: `'r'`, then the write, flush and apply positions (int64 each: "everything before
/// this position is …"), the client's clock (int64 µs since 2000-01-01), and a byte asking the
/// server to answer with a keepalive at once.
///
/// What the server does with it, for a physical slot: it sets the slot's `restart_lsn` to the
/// *flush* position exactly as given (0/0 leaves it alone), and may then remove older WAL. It
/// trusts the client: a flush position beyond what is durable loses that WAL for good if the
/// client then crashes, and one that goes backwards moves the slot backwards. `write` and
/// `flush` also feed `synchronous_commit = remote_write` / `on` and `pg_stat_replication`.
public struct StandbyStatusUpdate: Hashable, Sendable {
    /// WAL received and written (e.g. into a local spool), not necessarily durable.
    public var write: LSN
    /// WAL durable where it must survive a crash: for pgbackup, in the repository.
    public var flush: LSN
    /// WAL applied; a backup client applies nothing and reports 0/0 (invalid), as pg_receivewal.
    public var apply: LSN
    /// The client's clock when sending.
    public var clientTime: Date
    /// Ask the server to answer with a keepalive immediately.
    public var replyRequested: Bool

    public init(write: LSN, flush: LSN, apply: LSN = .zero, clientTime: Date = Date(), replyRequested: Bool = false) {
        self.write = write
        self.flush = flush
        self.apply = apply
        self.clientTime = clientTime
        self.replyRequested = replyRequested
    }

    public static let length = 34

    /// The CopyData payload to send.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.length)
        bytes.append(UInt8(ascii: "r"))
        BigEndian.append(write.rawValue, to: &bytes)
        BigEndian.append(flush.rawValue, to: &bytes)
        BigEndian.append(apply.rawValue, to: &bytes)
        BigEndian.append(PostgresTimestamp.microseconds(from: clientTime), to: &bytes)
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }
}
