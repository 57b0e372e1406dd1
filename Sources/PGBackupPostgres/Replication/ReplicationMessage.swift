import Foundation
import PGBackupFoundations

/// A message a walsender sends inside the COPY of `START_REPLICATION … PHYSICAL`: each CopyData
/// payload is one of these, told apart by its first byte.
public enum ReplicationMessage: Hashable, Sendable {
    /// `'w'`: WAL bytes.
    case xLogData(XLogData)
    /// `'k'`: the server's position and clock, maybe asking for a status update.
    case keepalive(PrimaryKeepalive)

    /// Parses one CopyData payload. Pure: no I/O, the bytes are only read (WAL is copied out).
    ///
    /// - Throws: `ReplicationMessageError` for an empty payload, an unknown type byte, a message
    ///   shorter than its header, or a keepalive of the wrong length.
    public init(parsing payload: UnsafeRawBufferPointer) throws(ReplicationMessageError) {
        guard let type = payload.first else { throw .empty }
        switch type {
        case UInt8(ascii: "w"):
            guard payload.count >= XLogData.headerLength else {
                throw .truncated(type: type, length: payload.count, expectedAtLeast: XLogData.headerLength)
            }
            self = .xLogData(XLogData(
                start: LSN(BigEndian.read(UInt64.self, from: payload, at: 1)),
                serverWALEnd: LSN(BigEndian.read(UInt64.self, from: payload, at: 9)),
                serverTime: PostgresTimestamp.date(fromMicroseconds: BigEndian.read(Int64.self, from: payload, at: 17)),
                bytes: Array(payload[XLogData.headerLength...])))
        case UInt8(ascii: "k"):
            guard payload.count >= PrimaryKeepalive.length else {
                throw .truncated(type: type, length: payload.count, expectedAtLeast: PrimaryKeepalive.length)
            }
            guard payload.count == PrimaryKeepalive.length else {
                throw .trailingBytes(type: type, length: payload.count, expected: PrimaryKeepalive.length)
            }
            self = .keepalive(PrimaryKeepalive(
                walEnd: LSN(BigEndian.read(UInt64.self, from: payload, at: 1)),
                serverTime: PostgresTimestamp.date(fromMicroseconds: BigEndian.read(Int64.self, from: payload, at: 9)),
                replyRequested: payload[17] != 0))
        default:
            throw .unknownType(type)
        }
    }

    /// Parses one CopyData payload held in an array.
    public init(parsing payload: [UInt8]) throws(ReplicationMessageError) {
        // A typed-throws closure cannot rethrow through withUnsafeBytes: carry the result out.
        let result = payload.withUnsafeBytes { bytes in
            Result { () throws(ReplicationMessageError) -> ReplicationMessage in try ReplicationMessage(parsing: bytes) }
        }
        self = try result.get()
    }
}
