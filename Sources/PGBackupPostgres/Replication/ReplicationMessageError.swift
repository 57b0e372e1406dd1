/// A CopyData payload from a walsender that is not a well-formed replication message.
///
/// Seeing one means the peer is not speaking PostgreSQL's physical streaming protocol as this
/// client knows it (a bug, a proxy in the way, or a protocol change): the stream cannot continue.
public enum ReplicationMessageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A CopyData message with no bytes at all.
    case empty
    /// The first byte is not `'w'` (XLogData) or `'k'` (primary keepalive).
    case unknownType(UInt8)
    /// Shorter than the fixed header of its type.
    case truncated(type: UInt8, length: Int, expectedAtLeast: Int)
    /// A keepalive longer than its fixed size.
    case trailingBytes(type: UInt8, length: Int, expected: Int)

    public var description: String {
        switch self {
        case .empty:
            return "malformed replication message: empty CopyData"
        case let .unknownType(type):
            return "malformed replication message: unknown type \(Self.describe(type))"
        case let .truncated(type, length, expectedAtLeast):
            return "malformed replication message: \(Self.describe(type)) of \(length) bytes, expected at least \(expectedAtLeast)"
        case let .trailingBytes(type, length, expected):
            return "malformed replication message: \(Self.describe(type)) of \(length) bytes, expected \(expected)"
        }
    }

    static func describe(_ type: UInt8) -> String {
        (0x20..<0x7F).contains(type)
            ? "'\(Character(Unicode.Scalar(type)))' (0x\(String(type, radix: 16)))"
            : "0x\(String(type, radix: 16))"
    }
}
