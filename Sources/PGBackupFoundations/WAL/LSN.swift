/// A PostgreSQL write-ahead log position (`pg_lsn`), printed as two hex halves: `16/B374D848`.
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, JSONTextValue {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    /// Parses PostgreSQL's text form `X/Y` (each half 1–8 hex digits, either case).
    /// Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              (1...8).contains(parts[0].count), (1...8).contains(parts[1].count),
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16),
              parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) })
        else { return nil }
        self.rawValue = UInt64(high) << 32 | UInt64(low)
    }

    public static let zero = LSN(0)

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `X/Y` in upper-case hex without padding, exactly as PostgreSQL prints it.
    public var description: String {
        String(rawValue >> 32, radix: 16, uppercase: true) + "/"
            + String(rawValue & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// The position `bytes` further on.
    public static func + (lhs: LSN, bytes: UInt64) -> LSN { LSN(lhs.rawValue + bytes) }
    /// The position `bytes` earlier.
    public static func - (lhs: LSN, bytes: UInt64) -> LSN { LSN(lhs.rawValue - bytes) }
    /// The number of WAL bytes from `rhs` to `lhs` (`lhs` must not be before `rhs`).
    public static func - (lhs: LSN, rhs: LSN) -> UInt64 { lhs.rawValue - rhs.rawValue }

    public init(from decoder: any Decoder) throws { try self.init(jsonTextFrom: decoder) }
    public func encode(to encoder: any Encoder) throws { try encodeJSONText(to: encoder) }
    public init(jsonText text: String) throws {
        guard let lsn = LSN(text) else { throw InvalidTextValue("'\(text)' is not an LSN (expected X/Y in hex)") }
        self = lsn
    }
}

/// A PostgreSQL timeline: 1 for a new cluster, incremented by every promotion or PITR.
public struct TimelineID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ value: UInt32) { self.rawValue = value }

    public static func < (lhs: TimelineID, rhs: TimelineID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }

    /// Eight upper-case hex digits, as in WAL file names and `00000002.history`.
    public var hex: String {
        let digits = String(rawValue, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(UInt32.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
