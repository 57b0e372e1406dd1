/// The content of a timeline history file `NNNNNNNN.history`: the ancestors of timeline N and
/// the LSN where each one switched to its child.
///
/// PostgreSQL writes one line per ancestor, `parentTLI<TAB>switchpoint<TAB>reason`, the timeline
/// in decimal and the switchpoint as `X/Y`. Each new file is the parent's file plus one line, and
/// the appended line starts with a newline, so real files have a blank line between entries.
/// Blank lines and lines starting with `#` (after white space) are ignored, as PostgreSQL does.
public struct TimelineHistory: Hashable, Sendable {
    /// One line: `timeline` ran until `switchpoint`, where the next timeline in the list began.
    public struct Entry: Hashable, Sendable {
        public var timeline: TimelineID
        /// The first LSN of the child timeline: WAL before it belongs to `timeline`.
        public var switchpoint: LSN
        /// Free text, e.g. `no recovery target specified`.
        public var reason: String

        public init(timeline: TimelineID, switchpoint: LSN, reason: String = "") {
            self.timeline = timeline
            self.switchpoint = switchpoint
            self.reason = reason
        }
    }

    /// The timeline whose history this is (the `N` of `N.history`).
    public var timeline: TimelineID
    /// Its ancestors, oldest first.
    public var entries: [Entry]

    /// A history from values; `validate()` checks it.
    public init(timeline: TimelineID, entries: [Entry]) {
        self.timeline = timeline
        self.entries = entries
    }

    /// The file name, `00000003.history`.
    public var fileName: String { timeline.hex + ".history" }

    /// Parses the content of `timeline`'s history file and validates it.
    public init(parsing text: some StringProtocol, timeline: TimelineID) throws(TimelineHistoryError) {
        let file = timeline.hex + ".history"
        var entries: [Entry] = []
        var lineNumber = 0
        var previousSwitchpoint = LSN.zero
        // "\r\n" is one Character in Swift, so it needs its own separator.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine[...]
            let content = line.drop(while: { $0 == " " || $0 == "\t" || $0 == "\u{0B}" || $0 == "\u{0C}" })
            if content.isEmpty || content.first == "#" { continue }

            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            let digits = line.prefix(while: { ("0"..."9").contains($0) })
            guard !digits.isEmpty, let tli = UInt32(digits) else {
                throw .expectedTimelineID(file: file, line: lineNumber, text: String(line))
            }
            guard fields.count >= 2, fields[0] == digits, let switchpoint = LSN(fields[1]) else {
                throw .expectedSwitchpoint(file: file, line: lineNumber, text: String(line))
            }
            let ancestor = TimelineID(tli)
            if let previous = entries.last?.timeline, ancestor <= previous {
                throw .timelinesNotIncreasing(file: file, line: lineNumber, timeline: ancestor, previous: previous)
            }
            guard ancestor < timeline else {
                throw .ancestorNotOlder(file: file, line: lineNumber, ancestor: ancestor, timeline: timeline)
            }
            guard switchpoint >= previousSwitchpoint else {
                throw .switchpointsNotIncreasing(file: file, line: lineNumber, switchpoint: switchpoint, previous: previousSwitchpoint)
            }
            previousSwitchpoint = switchpoint
            entries.append(Entry(timeline: ancestor, switchpoint: switchpoint,
                                 reason: fields.count == 3 ? String(fields[2]) : ""))
        }
        self.init(timeline: timeline, entries: entries)
    }

    /// The file content exactly as PostgreSQL's `writeTimeLineHistory` produces it.
    public func formatted() -> String {
        entries.enumerated().map { index, entry in
            (index == 0 ? "" : "\n") + "\(entry.timeline.rawValue)\t\(entry.switchpoint)\t\(entry.reason)\n"
        }.joined()
    }

    /// Checks the rules PostgreSQL enforces on read, plus non-decreasing switchpoints; the
    /// errors name line numbers as in `formatted()`.
    public func validate() throws(TimelineHistoryError) {
        _ = try TimelineHistory(parsing: formatted(), timeline: timeline)
    }

    /// The stretches of WAL each timeline on the path to `timeline` owns, oldest first
    /// (`readTimeLineHistory`): the first begins at 0/0, the last (`timeline`) never ends.
    public var ranges: [TimelineRange] {
        var result: [TimelineRange] = []
        var begin = LSN.zero
        for entry in entries {
            result.append(TimelineRange(timeline: entry.timeline, begin: begin, end: entry.switchpoint))
            begin = entry.switchpoint
        }
        result.append(TimelineRange(timeline: timeline, begin: begin, end: nil))
        return result
    }

    /// The timelines on the path to `timeline`, oldest first, ending with `timeline`.
    public var path: [TimelineID] { entries.map(\.timeline) + [timeline] }

    /// Whether `other` is `timeline` or one of its ancestors.
    public func contains(_ other: TimelineID) -> Bool { other == timeline || entries.contains { $0.timeline == other } }

    /// The timeline that wrote `lsn` on the way to `timeline` (`tliOfPointInHistory`): a
    /// switchpoint itself belongs to the child.
    public func timeline(of lsn: LSN) -> TimelineID {
        entries.first { lsn < $0.switchpoint }?.timeline ?? timeline
    }

    /// The LSN where `ancestor` switched away on the way to `timeline` (`tliSwitchPoint`); nil
    /// for `timeline` itself (it has not ended) and for timelines not on the path.
    public func switchpoint(of ancestor: TimelineID) -> LSN? {
        entries.first { $0.timeline == ancestor }?.switchpoint
    }

    /// The timeline whose file to read for segment `segmentNumber`, as recovery does
    /// (`XLogFileReadAnyTLI`): the newest timeline on the path that began at or before the
    /// segment. So the segment holding a switchpoint is read from the child timeline, whose copy
    /// holds the old timeline's WAL up to the switch and the new timeline's after it.
    public func timeline(ofSegment segmentNumber: UInt64, segmentSize: WALSegmentSize) -> TimelineID {
        for range in ranges.reversed() where segmentSize.segmentNumber(containing: range.begin) <= segmentNumber {
            return range.timeline
        }
        return entries.first?.timeline ?? timeline
    }

    /// The segment files recovery reads to replay WAL from `start` up to, not including, `end`
    /// on the way to `timeline`: each segment from the timeline `timeline(ofSegment:)` picks.
    public func segments(from start: LSN, to end: LSN, segmentSize: WALSegmentSize) -> [WALSegmentName] {
        WALSegmentName.covering(from: start, to: end, timeline: timeline, segmentSize: segmentSize).map {
            $0.on(timeline: timeline(ofSegment: $0.segmentNumber, segmentSize: segmentSize))
        }
    }

    /// Checks that each ancestor's own history file (looked up by timeline; timeline 1 has none)
    /// lists exactly the ancestors and switchpoints this file lists before it.
    public func validateAncestry(_ histories: [TimelineID: TimelineHistory]) throws(TimelineHistoryError) {
        try validate()
        for (index, entry) in entries.enumerated() where index > 0 {
            guard let ancestor = histories[entry.timeline] else {
                throw .missingAncestorHistory(file: fileName, ancestor: entry.timeline)
            }
            let expected = entries[..<index].map { "\($0.timeline.rawValue) \($0.switchpoint)" }
            let actual = ancestor.entries.map { "\($0.timeline.rawValue) \($0.switchpoint)" }
            guard expected == actual else {
                throw .ancestryMismatch(
                    file: fileName, ancestorFile: ancestor.fileName,
                    detail: "expected ancestors [\(expected.joined(separator: ", "))], found [\(actual.joined(separator: ", "))]"
                )
            }
        }
        if let first = entries.first, first.timeline != TimelineID(1), histories[first.timeline] == nil {
            throw .missingAncestorHistory(file: fileName, ancestor: first.timeline)
        }
        if let first = entries.first, let root = histories[first.timeline], !root.entries.isEmpty {
            throw .ancestryMismatch(
                file: fileName, ancestorFile: root.fileName,
                detail: "timeline \(first.timeline) is the oldest ancestor here but has ancestors of its own"
            )
        }
    }
}

/// The WAL one timeline owns on the path to a later timeline: `begin ..< end`, `end` nil while
/// the timeline is still current.
public struct TimelineRange: Hashable, Sendable {
    public var timeline: TimelineID
    public var begin: LSN
    public var end: LSN?

    public init(timeline: TimelineID, begin: LSN, end: LSN?) {
        self.timeline = timeline
        self.begin = begin
        self.end = end
    }

    /// Whether `lsn` lies in `begin ..< end`.
    public func contains(_ lsn: LSN) -> Bool { lsn >= begin && (end.map { lsn < $0 } ?? true) }
}
