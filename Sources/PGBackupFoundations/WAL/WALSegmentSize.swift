/// The size of one WAL segment file (`wal_segment_size`, chosen at `initdb --wal-segsize`):
/// a power of two from 1 MiB to 1 GiB, 16 MiB by default. Always passed around as a value.
public struct WALSegmentSize: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The size in bytes.
    public let bytes: UInt64

    /// PostgreSQL's bounds (`WalSegMinSize` … `WalSegMaxSize` in xlog_internal.h).
    public static let minimumBytes: UInt64 = 1 << 20
    public static let maximumBytes: UInt64 = 1 << 30

    /// PostgreSQL's default, 16 MiB.
    public static let `default` = WALSegmentSize(validBytes: 16 << 20)

    /// Validates `bytes`: a power of two from 1 MiB to 1 GiB.
    public init(bytes: UInt64) throws(WALNameError) {
        guard bytes >= Self.minimumBytes, bytes <= Self.maximumBytes, bytes & (bytes - 1) == 0 else {
            throw .invalidSegmentSize(bytes)
        }
        self.bytes = bytes
    }

    /// Validates a size given in MiB, as `initdb --wal-segsize` takes it.
    public init(megabytes: Int) throws(WALNameError) {
        guard megabytes > 0, megabytes <= 1024 else { throw .invalidSegmentSize(UInt64(max(megabytes, 0)) << 20) }
        try self.init(bytes: UInt64(megabytes) << 20)
    }

    private init(validBytes: UInt64) { self.bytes = validBytes }

    /// How many segments share one "log" number, the middle 8 hex digits of a segment name
    /// (`XLogSegmentsPerXLogId`): 256 for 16 MiB, 4 for 1 GiB.
    public var segmentsPerLogID: UInt64 { 0x1_0000_0000 / bytes }

    /// The number of the segment holding the byte at `lsn` (`XLByteToSeg`).
    public func segmentNumber(containing lsn: LSN) -> UInt64 { lsn.rawValue / bytes }

    /// The offset of `lsn` inside its segment (`XLogSegmentOffset`).
    public func offset(of lsn: LSN) -> UInt64 { lsn.rawValue & (bytes - 1) }

    /// Whether `lsn` is the first byte of a segment.
    public func isSegmentBoundary(_ lsn: LSN) -> Bool { offset(of: lsn) == 0 }

    /// The highest segment number the 64-bit WAL address space holds.
    public var maximumSegmentNumber: UInt64 { UInt64.max / bytes }

    public static func < (lhs: WALSegmentSize, rhs: WALSegmentSize) -> Bool { lhs.bytes < rhs.bytes }

    /// `16 MiB`, `1 GiB`.
    public var description: String {
        bytes >= 1 << 30 ? "\(bytes >> 30) GiB" : "\(bytes >> 20) MiB"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let bytes = try container.decode(UInt64.self)
        do {
            try self.init(bytes: bytes)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(bytes)
    }
}
