/// A PostgreSQL cluster's database system identifier (`pg_control`'s `system_identifier`, chosen
/// by `initdb`): what tells one cluster from another, and a repository's WAL from a stranger's.
///
/// Stored as decimal text in JSON (`"7301234567890123456"`), because JSON numbers lose 64-bit
/// precision in most readers; decoded once, at the boundary, so that the rest of the code compares
/// values, never text.
public struct SystemIdentifier: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses decimal text, as `pg_controldata`, `IDENTIFY_SYSTEM` and `repository.json` give it;
    /// nil for anything else (a sign, spaces, hex, overflow).
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt64(text) else { return nil }
        self.rawValue = value
    }

    /// The decimal text PostgreSQL prints.
    public var description: String { String(rawValue) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not a database system identifier (decimal digits)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
