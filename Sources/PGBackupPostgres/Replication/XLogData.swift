import Foundation
import PGBackupFoundations

/// One XLogData message (`'w'`): a run of WAL bytes as the server has them on disk.
///
/// Wire format after the type byte: the WAL position of the first byte (int64), the server's
/// current end of WAL (int64), the server's clock when sending (int64 µs since 2000-01-01), then
/// the WAL bytes themselves (PostgreSQL 15 sends at most 128 KiB per message, never across a
/// segment boundary, and only WAL the server has flushed).
public struct XLogData: Hashable, Sendable {
    /// The WAL position of `bytes[0]`.
    public var start: LSN
    /// The end of WAL on the server when it sent this message: how far the server is, not the
    /// end of this message (that is `end`). The difference is the replication lag in bytes.
    public var serverWALEnd: LSN
    /// The server's clock when it sent this message.
    public var serverTime: Date
    /// The WAL bytes, owned by this value (copied out of libpq's buffer, which is freed).
    public var bytes: [UInt8]

    public init(start: LSN, serverWALEnd: LSN, serverTime: Date, bytes: [UInt8]) {
        self.start = start
        self.serverWALEnd = serverWALEnd
        self.serverTime = serverTime
        self.bytes = bytes
    }

    /// The position just after the last byte: `start + bytes.count`.
    public var end: LSN { start + UInt64(bytes.count) }

    /// Type byte and three int64s.
    static let headerLength = 1 + 8 + 8 + 8
}
