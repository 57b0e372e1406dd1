import Foundation
import PGBackupFoundations

/// A primary keepalive message (`'k'`), 18 bytes: the server's end of WAL (int64), its clock
/// (int64 µs since 2000-01-01) and whether it wants a standby status update right away (byte).
///
/// The walsender asks for a reply (`replyRequested`) when it has heard nothing from the client
/// for half of `wal_sender_timeout`, and ends the connection when the whole timeout passes
/// without one; it also asks at shutdown, and waits for the client to confirm everything sent.
public struct PrimaryKeepalive: Hashable, Sendable {
    /// The end of WAL on the server when it sent this message.
    public var walEnd: LSN
    /// The server's clock when it sent this message.
    public var serverTime: Date
    /// The server wants a standby status update now, or it will time the connection out.
    public var replyRequested: Bool

    public init(walEnd: LSN, serverTime: Date, replyRequested: Bool) {
        self.walEnd = walEnd
        self.serverTime = serverTime
        self.replyRequested = replyRequested
    }

    static let length = 1 + 8 + 8 + 1
}
