import PGBackupFoundations

/// What the WAL archive holds, timeline by timeline: the contiguous runs of completed segments,
/// the gaps between them, history files and partial segments. A pure value computed from a
/// listing; `pgbackup check`, restore validation and the streaming daemon read it.
///
/// Conventions:
/// - Only *completed* segments make ranges. A partial segment is listed apart (`partials`): its
///   length is unknown from a listing, so it never extends a range or `endOfArchive`.
/// - A gap is a run of missing segments *between* two ranges of one timeline. Segments before
///   the first range are not a gap (retention removed them, or archiving started there).
/// - Timelines are independent here: the segments of timeline 2 before its switchpoint live on
///   timeline 1. Following a history across timelines is `missingSegments(along:from:to:)`.
/// - A segment stored twice (in two compressions) counts once.
public struct WALContinuity: Hashable, Sendable {
    /// One timeline's part of the archive.
    public struct Timeline: Hashable, Sendable {
        public let timeline: TimelineID
        public let segmentSize: WALSegmentSize
        /// Runs of completed segments, oldest first; no two overlap or touch.
        public let ranges: [WALSegmentRange]
        /// Whether `<TTTTTTTT>.history` is archived for this timeline (timeline 1 has none).
        public let hasHistoryFile: Bool
        /// Partial segments held for this timeline, oldest first.
        public let partials: [WALSegmentName]
        /// Backup history files (`<segment>.<offset>.backup`) archived on this timeline.
        public let backupHistoryFiles: [WALFileName]

        /// The runs missing between consecutive ranges, oldest first.
        public var gaps: [WALSegmentRange] {
            zip(ranges, ranges.dropFirst()).map { earlier, later in
                WALSegmentRange(first: earlier.last.next!, last: later.first.previous!)
            }
        }

        /// True when the completed segments held form one run (or there are none).
        public var isContiguous: Bool { ranges.count <= 1 }

        /// The oldest and newest completed segments held.
        public var firstSegment: WALSegmentName? { ranges.first?.first }
        public var lastSegment: WALSegmentName? { ranges.last?.last }

        /// The LSN just past the last completed segment: where the archive of this timeline ends
        /// (the end of the newest run, which ends the timeline's archive). Nil without segments.
        public var endOfArchive: LSN? { ranges.last?.endLSN }

        /// Whether the completed segment is held.
        public func contains(_ segment: WALSegmentName) -> Bool {
            segment.timeline == timeline && ranges.contains { $0.contains(segment) }
        }

        /// The runs of segments holding WAL in `[start, end)` on this timeline that are not held
        /// as completed segments, oldest first; empty when all are there.
        public func missingSegments(from start: LSN, to end: LSN) -> [WALSegmentRange] {
            guard end > start else { return [] }
            func segment(_ number: UInt64) -> WALSegmentName {
                WALSegmentName(timeline: timeline, segmentNumber: number, segmentSize: segmentSize)
            }
            var missing: [WALSegmentRange] = []
            var next = segmentSize.segmentNumber(containing: start)
            let last = segmentSize.segmentNumber(containing: end - 1)
            for range in ranges where range.last.segmentNumber >= next && range.first.segmentNumber <= last {
                if range.first.segmentNumber > next {
                    missing.append(WALSegmentRange(first: segment(next), last: segment(range.first.segmentNumber - 1)))
                }
                next = range.last.segmentNumber + 1
                if next > last { return missing }
            }
            missing.append(WALSegmentRange(first: segment(next), last: segment(last)))
            return missing
        }
    }

    public let segmentSize: WALSegmentSize
    /// Every timeline with anything archived (segments, history file, partial or backup
    /// history file), in timeline order.
    public let timelines: [Timeline]
    /// Keys under the WAL prefix that are not part of the layout, sorted (left by hand, or by
    /// a newer pgbackup). Reported, never touched.
    public let unrecognizedKeys: [String]

    /// Analyses entries (in any order; a segment stored twice in different compressions counts
    /// once).
    public init(entries: some Sequence<WALArchiveEntry>, unrecognizedKeys: [String] = [], segmentSize: WALSegmentSize) {
        var found: [TimelineID: Found] = [:]
        for entry in entries {
            switch entry {
            case .segment(let segment, _): found[segment.timeline, default: Found()].segments.insert(segment.segmentNumber)
            case .partial(let segment, _): found[segment.timeline, default: Found()].partials.insert(segment)
            case .history(let timeline): found[timeline, default: Found()].history = true
            case .backupHistory(let segment, let offset):
                found[segment.timeline, default: Found()].backups.insert(.backupHistory(segment, offset: offset))
            case .serverTimes:
                break  // a record annotates WAL; it holds none
            }
        }
        self.segmentSize = segmentSize
        self.unrecognizedKeys = unrecognizedKeys.sorted()
        timelines = found.keys.sorted().map { timeline in
            let item = found[timeline]!
            return Timeline(
                timeline: timeline, segmentSize: segmentSize,
                ranges: Self.runs(of: item.segments, timeline: timeline, segmentSize: segmentSize),
                hasHistoryFile: item.history,
                partials: item.partials.sorted(),
                backupHistoryFiles: item.backups.sorted { $0.name < $1.name })
        }
    }

    /// Analyses a listing of the WAL prefix: keys outside the layout become `unrecognizedKeys`
    /// (recorded gaps, under `gapPrefix`, and diverged WAL kept apart, under `divergedPrefix`,
    /// are neither: diverged WAL is not part of the archive's history).
    public init(keys: some Sequence<String>, layout: WALArchiveLayout, segmentSize: WALSegmentSize) {
        var entries: [WALArchiveEntry] = []
        var unrecognized: [String] = []
        for key in keys where !key.hasPrefix(layout.gapPrefix) && !key.hasPrefix(layout.divergedPrefix) {
            if let entry = layout.entry(forKey: key, segmentSize: segmentSize) {
                entries.append(entry)
            } else {
                unrecognized.append(key)
            }
        }
        self.init(entries: entries, unrecognizedKeys: unrecognized, segmentSize: segmentSize)
    }

    /// The timeline's part of the archive; nil when nothing of it is archived.
    public func timeline(_ timeline: TimelineID) -> Timeline? {
        timelines.first { $0.timeline == timeline }
    }

    /// The highest timeline with anything archived (a history file counts: it announces the
    /// timeline before its first segment is complete).
    public var latestTimeline: TimelineID? { timelines.last?.timeline }

    /// The LSN just past the timeline's last completed segment (see `Timeline.endOfArchive`).
    public func endOfArchive(timeline: TimelineID) -> LSN? {
        self.timeline(timeline)?.endOfArchive
    }

    /// Whether every timeline's completed segments form one run.
    public var isContiguous: Bool { timelines.allSatisfy(\.isContiguous) }

    /// The segment files recovery reads to replay WAL from `start` up to `end` along `history`
    /// (the target timeline's history; each segment from the timeline
    /// `TimelineHistory.timeline(ofSegment:segmentSize:)` picks, as recovery does) that are not
    /// archived as completed segments, in runs, oldest first. Empty when replay can proceed.
    public func missingSegments(along history: TimelineHistory, from start: LSN, to end: LSN) -> [WALSegmentRange] {
        guard end > start else { return [] }
        let byTimeline = Dictionary(uniqueKeysWithValues: timelines.map { ($0.timeline, $0) })
        var missing: [WALSegmentRange] = []
        for wanted in WALSegmentName.covering(from: start, to: end, timeline: history.timeline, segmentSize: segmentSize) {
            let segment = wanted.on(timeline: history.timeline(ofSegment: wanted.segmentNumber, segmentSize: segmentSize))
            if byTimeline[segment.timeline]?.contains(segment) == true { continue }
            if let open = missing.last, open.timeline == segment.timeline, open.last.next == segment {
                missing[missing.count - 1] = WALSegmentRange(first: open.first, last: segment)
            } else {
                missing.append(WALSegmentRange(first: segment, last: segment))
            }
        }
        return missing
    }

    /// What a listing holds for one timeline.
    private struct Found {
        var segments = Set<UInt64>()
        var history = false
        var partials = Set<WALSegmentName>()
        var backups = Set<WALFileName>()
    }

    private static func runs(of numbers: Set<UInt64>, timeline: TimelineID, segmentSize: WALSegmentSize) -> [WALSegmentRange] {
        func segment(_ number: UInt64) -> WALSegmentName {
            WALSegmentName(timeline: timeline, segmentNumber: number, segmentSize: segmentSize)
        }
        var ranges: [WALSegmentRange] = []
        var start: UInt64?
        var previous: UInt64 = 0
        for number in numbers.sorted() {
            if let first = start, number != previous + 1 {
                ranges.append(WALSegmentRange(first: segment(first), last: segment(previous)))
                start = number
            } else if start == nil {
                start = number
            }
            previous = number
        }
        if let first = start { ranges.append(WALSegmentRange(first: segment(first), last: segment(previous))) }
        return ranges
    }
}

extension WALContinuity.Timeline: Encodable {
    private enum CodingKeys: String, CodingKey {
        case timeline, ranges, gaps, endOfArchive, hasHistoryFile, partials, backupHistoryFiles
    }

    /// For `--json` reports: segment and file names as PostgreSQL writes them, LSNs as `X/Y`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(timeline, forKey: .timeline)
        try container.encode(ranges, forKey: .ranges)
        try container.encode(gaps, forKey: .gaps)
        try container.encode(endOfArchive, forKey: .endOfArchive)
        try container.encode(hasHistoryFile, forKey: .hasHistoryFile)
        try container.encode(partials.map(\.name), forKey: .partials)
        try container.encode(backupHistoryFiles.map(\.name), forKey: .backupHistoryFiles)
    }
}

extension WALContinuity: Encodable {
    private enum CodingKeys: String, CodingKey { case segmentSize, timelines, unrecognizedKeys }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(segmentSize, forKey: .segmentSize)
        try container.encode(timelines, forKey: .timelines)
        try container.encode(unrecognizedKeys, forKey: .unrecognizedKeys)
    }
}
