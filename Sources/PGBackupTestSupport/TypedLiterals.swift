import PGBackupFoundations

// Test-only literals for the repository's typed values, so that fixtures read `systemIdentifier:
// 7_000` and `walSegmentSize: 16 << 20`. Production code decodes them at the boundary instead.

extension SystemIdentifier: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: UInt64) { self.init(rawValue: value) }

    public init(stringLiteral value: String) {
        guard let parsed = SystemIdentifier(value) else { preconditionFailure("'\(value)' is not a system identifier") }
        self = parsed
    }
}

extension WALSegmentSize: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt64) {
        do { try self.init(bytes: value) } catch { preconditionFailure("\(error)") }
    }
}
