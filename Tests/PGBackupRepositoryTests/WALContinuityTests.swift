import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupRepository

@Suite("WAL continuity")
struct WALContinuityTests {
    let size = WALSegmentSize.default
    let layout = WALArchiveLayout(prefix: "main/wal/")

    func segment(_ timeline: UInt32, _ number: UInt64) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(timeline), segmentNumber: number, segmentSize: size)
    }

    func range(_ timeline: UInt32, _ first: UInt64, _ last: UInt64) -> WALSegmentRange {
        WALSegmentRange(first: segment(timeline, first), last: segment(timeline, last))
    }

    func keys(_ timeline: UInt32, _ numbers: some Sequence<UInt64>, _ algorithm: CompressionAlgorithm = .zstd) -> [String] {
        numbers.map { layout.key(of: .segment(segment(timeline, $0), algorithm)) }
    }

    @Test func anEmptyArchive() {
        let continuity = WALContinuity(keys: [], layout: layout, segmentSize: size)
        #expect(continuity.timelines.isEmpty)
        #expect(continuity.latestTimeline == nil)
        #expect(continuity.endOfArchive(timeline: TimelineID(1)) == nil)
        #expect(continuity.isContiguous)
    }

    @Test func rangesAndGapsOnSeveralTimelines() {
        // Timeline 1: 1…5, 8, 10…0x102 (across a log boundary); timeline 2 from 0x102 with a
        // history file, a partial and a gap; timeline 3 announced by its history file only.
        var all = keys(1, [1, 2, 3, 4, 5, 8]) + keys(1, 10...0x102, .gzip)
        all += keys(2, [0x102, 0x103, 0x105]) + [
            layout.key(of: .history(TimelineID(2))),
            layout.key(of: .partial(segment(2, 0x106), .zstd)),
            layout.key(of: .backupHistory(segment(1, 3), offset: 0x28)),
            layout.key(of: .history(TimelineID(3))),
            "main/wal/notes.txt",
        ]
        let continuity = WALContinuity(keys: all.shuffled(), layout: layout, segmentSize: size)

        #expect(continuity.timelines.map(\.timeline) == [TimelineID(1), TimelineID(2), TimelineID(3)])
        #expect(continuity.latestTimeline == TimelineID(3))
        #expect(continuity.unrecognizedKeys == ["main/wal/notes.txt"])
        #expect(!continuity.isContiguous)

        let one = continuity.timeline(TimelineID(1))!
        #expect(one.ranges == [range(1, 1, 5), range(1, 8, 8), range(1, 10, 0x102)])
        #expect(one.gaps == [range(1, 6, 7), range(1, 9, 9)])
        #expect(one.ranges.map(\.count) == [5, 1, 0xF9])
        #expect(one.firstSegment == segment(1, 1) && one.lastSegment == segment(1, 0x102))
        #expect(!one.hasHistoryFile)
        #expect(one.backupHistoryFiles == [WALFileName.backupHistory(segment(1, 3), offset: 0x28)])
        #expect(one.endOfArchive == LSN(0x103 * size.bytes))
        #expect(one.endOfArchive?.description == "1/3000000")
        #expect(one.contains(segment(1, 0x100)) && !one.contains(segment(1, 7)) && !one.contains(segment(2, 2)))

        let two = continuity.timeline(TimelineID(2))!
        #expect(two.ranges == [range(2, 0x102, 0x103), range(2, 0x105, 0x105)])
        #expect(two.gaps == [range(2, 0x104, 0x104)])
        #expect(two.hasHistoryFile)
        #expect(two.partials == [segment(2, 0x106)])
        // The partial does not extend the archive: its length is unknown from a listing.
        #expect(continuity.endOfArchive(timeline: TimelineID(2)) == segment(2, 0x105).endLSN)

        let three = continuity.timeline(TimelineID(3))!
        #expect(three.ranges.isEmpty && three.gaps.isEmpty && three.hasHistoryFile)
        #expect(continuity.endOfArchive(timeline: TimelineID(3)) == nil)
        #expect(continuity.endOfArchive(timeline: TimelineID(4)) == nil)
    }

    @Test func aSegmentStoredInTwoCompressionsCountsOnce() {
        let continuity = WALContinuity(keys: keys(1, [4, 5]) + keys(1, [5, 6], .gzip), layout: layout, segmentSize: size)
        #expect(continuity.timeline(TimelineID(1))?.ranges == [range(1, 4, 6)])
        #expect(continuity.isContiguous)
    }

    @Test func missingSegmentsOnOneTimeline() {
        let continuity = WALContinuity(keys: keys(1, [3, 4, 5, 8, 9]), layout: layout, segmentSize: size)
        let one = continuity.timeline(TimelineID(1))!
        let start = segment(1, 3).startLSN + 0x28
        #expect(one.missingSegments(from: start, to: segment(1, 5).endLSN).isEmpty)
        // The end is exclusive: WAL up to the start of segment 6 needs nothing from 6.
        #expect(one.missingSegments(from: start, to: segment(1, 6).startLSN).isEmpty)
        #expect(one.missingSegments(from: start, to: segment(1, 6).startLSN + 1) == [range(1, 6, 6)])
        #expect(one.missingSegments(from: start, to: segment(1, 9).endLSN) == [range(1, 6, 7)])
        #expect(one.missingSegments(from: segment(1, 1).startLSN, to: segment(1, 12).startLSN + 5)
                == [range(1, 1, 2), range(1, 6, 7), range(1, 10, 12)])
        #expect(one.missingSegments(from: start, to: start).isEmpty)
    }

    @Test func missingSegmentsAlongATimelineHistory() throws {
        // Timeline 2 branched from 1 at 0/5000028: segments up to 4 come from timeline 1, and
        // segment 5 (holding the switchpoint) and later from timeline 2, as recovery reads them.
        let history = TimelineHistory(timeline: TimelineID(2), entries: [.init(timeline: TimelineID(1), switchpoint: LSN(0x500_0028))])
        let complete = keys(1, 2...5) + keys(2, 5...7)
        let continuity = WALContinuity(keys: complete, layout: layout, segmentSize: size)
        let start = LSN(0x200_0028), end = LSN(0x700_0100)
        #expect(continuity.missingSegments(along: history, from: start, to: end).isEmpty)

        let withoutTimeline1Segment4 = WALContinuity(keys: complete.filter { !$0.hasSuffix("000000010000000000000004.zst") }, layout: layout, segmentSize: size)
        #expect(withoutTimeline1Segment4.missingSegments(along: history, from: start, to: end) == [range(1, 4, 4)])

        // Timeline 1's copy of segment 5 does not stand in for timeline 2's.
        let withoutTimeline2Segment5 = WALContinuity(keys: keys(1, 2...5) + keys(2, 6...7), layout: layout, segmentSize: size)
        #expect(withoutTimeline2Segment5.missingSegments(along: history, from: start, to: end) == [range(2, 5, 5)])

        let beyond = continuity.missingSegments(along: history, from: start, to: LSN(0xA00_0000))
        #expect(beyond == [range(2, 8, 9)])
    }

    @Test func rangesEncodeForJSONReports() throws {
        let encoded = try RepositoryJSON.encode(range(1, 3, 7))
        let text = String(decoding: encoded, as: UTF8.self)
        for fragment in [#""first" : "000000010000000000000003""#, #""last" : "000000010000000000000007""#,
                         #""count" : 5"#, #""startLSN" : "0/3000000""#, #""endLSN" : "0/8000000""#] {
            #expect(text.contains(fragment), "\(text)")
        }
    }

    @Test func theWholeAnalysisEncodesForJSONReports() throws {
        let keys = keys(1, [1, 2, 4]) + [layout.key(of: .partial(segment(1, 5), .zstd)), layout.key(of: .history(TimelineID(2)))]
        let continuity = WALContinuity(keys: keys, layout: layout, segmentSize: size)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(RepositoryJSON.encode(continuity))) as? [String: Any])
        #expect(object["segmentSize"] as? Int == 16 << 20)
        let timelines = try #require(object["timelines"] as? [[String: Any]])
        #expect(timelines.map { $0["timeline"] as? Int } == [1, 2])
        #expect((timelines[0]["ranges"] as? [Any])?.count == 2)
        #expect(((timelines[0]["gaps"] as? [[String: Any]])?.first?["first"] as? String) == "000000010000000000000003")
        #expect(timelines[0]["endOfArchive"] as? String == "0/5000000")
        #expect(timelines[0]["partials"] as? [String] == ["000000010000000000000005"])
        #expect(timelines[1]["hasHistoryFile"] as? Bool == true)
        #expect(timelines[1]["endOfArchive"] is NSNull || timelines[1]["endOfArchive"] == nil)
    }
}
