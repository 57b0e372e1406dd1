/// One WAL segment file: `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, "log", segment within the log),
/// PostgreSQL's `XLogFileName`. The segment size is part of the value: the same LSN lies in
/// different segments for different sizes.
public struct WALSegmentName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let timeline: TimelineID
    /// The segment number counted from LSN 0/0 (`XLogSegNo`).
    public let segmentNumber: UInt64
    public let segmentSize: WALSegmentSize

    /// The segment `segmentNumber` on `timeline`; `segmentNumber` must not exceed
    /// `segmentSize.maximumSegmentNumber`.
    public init(timeline: TimelineID, segmentNumber: UInt64, segmentSize: WALSegmentSize) {
        precondition(segmentNumber <= segmentSize.maximumSegmentNumber, "segment number beyond the WAL address space")
        self.timeline = timeline
        self.segmentNumber = segmentNumber
        self.segmentSize = segmentSize
    }

    /// The segment holding the byte at `lsn` (`XLByteToSeg`): 0/3000028 → …03 with 16 MiB.
    public init(timeline: TimelineID, containing lsn: LSN, segmentSize: WALSegmentSize) {
        self.init(timeline: timeline, segmentNumber: segmentSize.segmentNumber(containing: lsn), segmentSize: segmentSize)
    }

    /// The segment holding the byte just before `lsn` (`XLByteToPrevSeg`): where WAL that *ends*
    /// at `lsn` lives. PostgreSQL uses this for a backup's stop LSN (and up to 16 for
    /// `pg_walfile_name()`, which 17+ compute with `XLByteToSeg`, as `containing:`), so 0/3000000
    /// gives …02, not …03. Nil for 0/0, which nothing ends at.
    public init?(timeline: TimelineID, endingAt lsn: LSN, segmentSize: WALSegmentSize) {
        guard lsn.rawValue > 0 else { return nil }
        self.init(timeline: timeline, containing: LSN(lsn.rawValue - 1), segmentSize: segmentSize)
    }

    /// Parses a 24-hex-digit segment name (upper case, as PostgreSQL writes it).
    public init(parsing name: some StringProtocol, segmentSize: WALSegmentSize) throws(WALNameError) {
        let utf8 = Array(name.utf8)
        guard utf8.count == 24,
              let tli = Hex.parse8(utf8[0..<8]), let log = Hex.parse8(utf8[8..<16]), let seg = Hex.parse8(utf8[16..<24])
        else { throw .notAWALFileName(String(name)) }
        guard tli != 0 else { throw .timelineZero(String(name)) }
        guard UInt64(seg) < segmentSize.segmentsPerLogID else {
            throw .segmentOutOfRange(name: String(name), segment: seg, segmentSize: segmentSize)
        }
        self.init(
            timeline: TimelineID(tli),
            segmentNumber: UInt64(log) * segmentSize.segmentsPerLogID + UInt64(seg),
            segmentSize: segmentSize
        )
    }

    /// The middle eight hex digits: the high 32 bits of the segment's LSNs.
    public var logID: UInt32 { UInt32(segmentNumber / segmentSize.segmentsPerLogID) }

    /// The last eight hex digits: the segment's index inside its log.
    public var segmentInLog: UInt32 { UInt32(segmentNumber % segmentSize.segmentsPerLogID) }

    /// The 24-hex-digit file name.
    public var name: String { timeline.hex + Hex.format8(logID) + Hex.format8(segmentInLog) }

    public var description: String { name }

    /// The repository directory holding this segment: `wal/<directory>/<name>`.
    public var directory: WALLogDirectory { WALLogDirectory(timeline: timeline, logID: logID) }

    /// The first LSN inside the segment.
    public var startLSN: LSN { LSN(segmentNumber * segmentSize.bytes) }

    /// The last LSN inside the segment.
    public var lastLSN: LSN { LSN(segmentNumber * segmentSize.bytes + (segmentSize.bytes - 1)) }

    /// The first LSN after the segment, where the next one starts. For the very last segment of
    /// the 64-bit address space this wraps to 0/0, as PostgreSQL's `XLogSegNoOffsetToRecPtr` does.
    public var endLSN: LSN { LSN(startLSN.rawValue &+ segmentSize.bytes) }

    /// Whether `lsn` lies inside this segment (whatever the timeline).
    public func contains(_ lsn: LSN) -> Bool { segmentSize.segmentNumber(containing: lsn) == segmentNumber }

    /// The following segment on the same timeline; nil past the end of the WAL address space.
    public var next: WALSegmentName? {
        segmentNumber < segmentSize.maximumSegmentNumber
            ? WALSegmentName(timeline: timeline, segmentNumber: segmentNumber + 1, segmentSize: segmentSize) : nil
    }

    /// The preceding segment on the same timeline; nil for the first segment.
    public var previous: WALSegmentName? {
        segmentNumber > 0
            ? WALSegmentName(timeline: timeline, segmentNumber: segmentNumber - 1, segmentSize: segmentSize) : nil
    }

    /// The same segment number on another timeline: after a switch, the new timeline's copy of
    /// the segment holding the switchpoint has the same number.
    public func on(timeline other: TimelineID) -> WALSegmentName {
        WALSegmentName(timeline: other, segmentNumber: segmentNumber, segmentSize: segmentSize)
    }

    /// The segments holding the WAL from `start` up to, not including, `end` on one timeline,
    /// oldest first; empty when `end <= start`. Lazy: a range of terabytes costs nothing.
    public static func covering(
        from start: LSN, to end: LSN, timeline: TimelineID, segmentSize: WALSegmentSize
    ) -> LazyMapSequence<Range<UInt64>, WALSegmentName> {
        let first = segmentSize.segmentNumber(containing: start)
        let last = end > start ? segmentSize.segmentNumber(containing: LSN(end.rawValue - 1)) : first
        let numbers = end > start ? first..<(last + 1) : first..<first
        return numbers.lazy.map { WALSegmentName(timeline: timeline, segmentNumber: $0, segmentSize: segmentSize) }
    }

    /// Name order: timeline first, then segment number (the order of the file names).
    public static func < (lhs: WALSegmentName, rhs: WALSegmentName) -> Bool {
        (lhs.timeline, lhs.segmentNumber) < (rhs.timeline, rhs.segmentNumber)
    }
}
