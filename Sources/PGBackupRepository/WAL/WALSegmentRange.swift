import PGBackupFoundations

/// A run of consecutive segments on one timeline, `first` through `last` inclusive.
public struct WALSegmentRange: Hashable, Sendable, CustomStringConvertible {
    public let first: WALSegmentName
    public let last: WALSegmentName

    /// `first` and `last` must be on the same timeline, `last` not before `first`.
    public init(first: WALSegmentName, last: WALSegmentName) {
        precondition(first.timeline == last.timeline && first.segmentNumber <= last.segmentNumber,
                     "a segment range lies on one timeline, first to last")
        self.first = first
        self.last = last
    }

    public var timeline: TimelineID { first.timeline }
    /// How many segments the range holds.
    public var count: UInt64 { last.segmentNumber - first.segmentNumber + 1 }
    /// The first LSN of the range's WAL.
    public var startLSN: LSN { first.startLSN }
    /// The LSN just past the range's WAL.
    public var endLSN: LSN { last.endLSN }

    public func contains(_ segment: WALSegmentName) -> Bool {
        segment.timeline == timeline && (first.segmentNumber...last.segmentNumber).contains(segment.segmentNumber)
    }

    /// `000000010000000000000003` or `000000010000000000000003…000000010000000000000007`.
    public var description: String { first == last ? first.name : "\(first.name)…\(last.name)" }
}

extension WALSegmentRange: Encodable {
    private enum CodingKeys: String, CodingKey { case first, last, count, startLSN, endLSN }

    /// `{"first": "…03", "last": "…07", "count": 5, "startLSN": "0/3000000", "endLSN": "0/8000000"}`
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(first.name, forKey: .first)
        try container.encode(last.name, forKey: .last)
        try container.encode(count, forKey: .count)
        try container.encode(startLSN, forKey: .startLSN)
        try container.encode(endLSN, forKey: .endLSN)
    }
}
