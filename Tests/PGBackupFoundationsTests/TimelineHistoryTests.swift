import PGBackupTestSupport
import PGBackupFoundations
import PropertyBased
import Testing

@Suite struct TimelineHistoryTests {
    /// `00000003.history` as PostgreSQL writes it: the parent's file, a blank line, one more line.
    static let three = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000060\tat restore point \"before\"\n"

    @Test func parsesPostgreSQLsOwnFile() throws {
        let history = try TimelineHistory(parsing: Self.three, timeline: TimelineID(3))
        #expect(history.entries == [
            .init(timeline: TimelineID(1), switchpoint: LSN(0x300_0000), reason: "no recovery target specified"),
            .init(timeline: TimelineID(2), switchpoint: LSN(0x500_0060), reason: "at restore point \"before\""),
        ])
        #expect(history.formatted() == Self.three)
        #expect(history.fileName == "00000003.history")
        #expect(history.path == [TimelineID(1), TimelineID(2), TimelineID(3)])
    }

    @Test func ranges() throws {
        let history = try TimelineHistory(parsing: Self.three, timeline: TimelineID(3))
        #expect(history.ranges == [
            TimelineRange(timeline: TimelineID(1), begin: .zero, end: LSN(0x300_0000)),
            TimelineRange(timeline: TimelineID(2), begin: LSN(0x300_0000), end: LSN(0x500_0060)),
            TimelineRange(timeline: TimelineID(3), begin: LSN(0x500_0060), end: nil),
        ])
        #expect(history.ranges[1].contains(LSN(0x300_0000)))
        #expect(!history.ranges[1].contains(LSN(0x500_0060)))
        #expect(history.ranges[2].contains(LSN(UInt64.max)))
    }

    @Test(arguments: [
        ("0/0", 1), ("0/2FFFFFF", 1), ("0/3000000", 2), ("0/500005F", 2), ("0/5000060", 3), ("FFFFFFFF/FFFFFFFF", 3),
    ])
    func timelineOfLSN(lsn: String, expected: UInt32) throws {
        let history = try TimelineHistory(parsing: Self.three, timeline: TimelineID(3))
        #expect(history.timeline(of: LSN(lsn)!) == TimelineID(expected))
    }

    @Test func timelineOfSegmentPrefersTheChildForTheSwitchSegment() throws {
        let history = try TimelineHistory(parsing: Self.three, timeline: TimelineID(3))
        let size = WALSegmentSize.default
        #expect(history.timeline(ofSegment: 2, segmentSize: size) == TimelineID(1))
        #expect(history.timeline(ofSegment: 3, segmentSize: size) == TimelineID(2))
        #expect(history.timeline(ofSegment: 4, segmentSize: size) == TimelineID(2))
        #expect(history.timeline(ofSegment: 5, segmentSize: size) == TimelineID(3))
        #expect(history.timeline(ofSegment: 99, segmentSize: size) == TimelineID(3))
        #expect(history.switchpoint(of: TimelineID(2)) == LSN(0x500_0060))
        #expect(history.switchpoint(of: TimelineID(3)) == nil)
        #expect(history.contains(TimelineID(2)))
        #expect(!history.contains(TimelineID(4)))
    }

    @Test func emptyHistoryIsTheTimelineAlone() throws {
        let history = try TimelineHistory(parsing: "", timeline: TimelineID(1))
        #expect(history.entries.isEmpty)
        #expect(history.ranges == [TimelineRange(timeline: TimelineID(1), begin: .zero, end: nil)])
        #expect(history.timeline(of: LSN(12345)) == TimelineID(1))
        #expect(history.formatted() == "")
    }

    @Test func commentsBlankLinesAndSkippedTimelines() throws {
        let text = "# made by hand\n\n   \n  # indented comment\r\n1\t0/3000000\r\n\t\n3\t0/9000000\tpromoted\twith a tab\n"
        let history = try TimelineHistory(parsing: text, timeline: TimelineID(5))
        #expect(history.entries == [
            .init(timeline: TimelineID(1), switchpoint: LSN(0x300_0000), reason: ""),
            .init(timeline: TimelineID(3), switchpoint: LSN(0x900_0000), reason: "promoted\twith a tab"),
        ])
        #expect(history.timeline(of: LSN(0x500_0000)) == TimelineID(3))
    }

    @Test func malformedLines() {
        let tli = TimelineID(3)
        #expect(throws: TimelineHistoryError.expectedTimelineID(file: "00000003.history", line: 2, text: "x\t0/1")) {
            try TimelineHistory(parsing: "1\t0/1\nx\t0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedTimelineID(file: "00000003.history", line: 1, text: "\t0/1")) {
            try TimelineHistory(parsing: "\t0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedTimelineID(file: "00000003.history", line: 1, text: "-1\t0/1")) {
            try TimelineHistory(parsing: "-1\t0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedTimelineID(file: "00000003.history", line: 1, text: "99999999999\t0/1")) {
            try TimelineHistory(parsing: "99999999999\t0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedSwitchpoint(file: "00000003.history", line: 3, text: "2")) {
            try TimelineHistory(parsing: "1\t0/1\n\n2\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedSwitchpoint(file: "00000003.history", line: 1, text: "1 0/1")) {
            try TimelineHistory(parsing: "1 0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.expectedSwitchpoint(file: "00000003.history", line: 1, text: "1\t0/1x\treason")) {
            try TimelineHistory(parsing: "1\t0/1x\treason\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.timelinesNotIncreasing(
            file: "00000003.history", line: 2, timeline: TimelineID(1), previous: TimelineID(2))) {
            try TimelineHistory(parsing: "2\t0/1\n1\t0/2\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.timelinesNotIncreasing(
            file: "00000003.history", line: 2, timeline: TimelineID(1), previous: TimelineID(1))) {
            try TimelineHistory(parsing: "1\t0/1\n1\t0/2\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.ancestorNotOlder(
            file: "00000003.history", line: 1, ancestor: TimelineID(3), timeline: tli)) {
            try TimelineHistory(parsing: "3\t0/1\n", timeline: tli)
        }
        #expect(throws: TimelineHistoryError.switchpointsNotIncreasing(
            file: "00000003.history", line: 3, switchpoint: LSN(0x10), previous: LSN(0x20))) {
            try TimelineHistory(parsing: "1\t0/20\n\n2\t0/10\n", timeline: tli)
        }
    }

    @Test func errorMessagesNameFileAndLine() {
        #expect(TimelineHistoryError.expectedTimelineID(file: "00000003.history", line: 2, text: "x").description
            == "unable to parse history file '00000003.history' line 2: expected a decimal timeline ID, found 'x'")
        #expect(TimelineHistoryError.timelinesNotIncreasing(file: "00000003.history", line: 4, timeline: TimelineID(1),
                                                            previous: TimelineID(2)).description
            == "unable to parse history file '00000003.history' line 4: timeline 1 follows timeline 2;"
            + " timeline IDs must be in increasing sequence")
        #expect(TimelineHistoryError.missingAncestorHistory(file: "00000004.history", ancestor: TimelineID(2)).description
            == "unable to verify the ancestry of '00000004.history': history file '00000002.history' of ancestor"
            + " timeline 2 is missing")
    }

    @Test func validateValues() {
        let good = TimelineHistory(timeline: TimelineID(3), entries: [
            .init(timeline: TimelineID(1), switchpoint: LSN(1)), .init(timeline: TimelineID(2), switchpoint: LSN(1)),
        ])
        #expect(throws: Never.self) { try good.validate() }
        let bad = TimelineHistory(timeline: TimelineID(2), entries: [.init(timeline: TimelineID(2), switchpoint: LSN(1))])
        #expect(throws: TimelineHistoryError.self) { try bad.validate() }
    }

    @Test func ancestry() throws {
        let two = try TimelineHistory(parsing: "1\t0/3000000\tno recovery target specified\n", timeline: TimelineID(2))
        let three = try TimelineHistory(parsing: Self.three, timeline: TimelineID(3))
        #expect(throws: Never.self) { try three.validateAncestry([TimelineID(2): two]) }
        #expect(throws: Never.self) { try two.validateAncestry([:]) }
        #expect(throws: TimelineHistoryError.missingAncestorHistory(file: "00000003.history", ancestor: TimelineID(2))) {
            try three.validateAncestry([:])
        }
        let forked = try TimelineHistory(parsing: "1\t0/4000000\tother\n", timeline: TimelineID(2))
        #expect(throws: TimelineHistoryError.ancestryMismatch(
            file: "00000003.history", ancestorFile: "00000002.history",
            detail: "expected ancestors [1 0/3000000], found [1 0/4000000]")) {
            try three.validateAncestry([TimelineID(2): forked])
        }
        // A history whose oldest ancestor is not timeline 1 needs that ancestor's own (empty) history.
        let orphan = try TimelineHistory(parsing: "2\t0/3000000\n", timeline: TimelineID(4))
        #expect(throws: TimelineHistoryError.missingAncestorHistory(file: "00000004.history", ancestor: TimelineID(2))) {
            try orphan.validateAncestry([:])
        }
        #expect(throws: TimelineHistoryError.self) { try orphan.validateAncestry([TimelineID(2): two]) }
    }
}

@Suite struct TimelineHistoryPropertyTests {
    @Test func formatParseRoundTrip() async {
        await propertyCheck(input: Gen.uint64(), Gen.int(in: 0...8)) { (seed: UInt64, count: Int) throws in
            var rng = SeededGenerator(seed: seed)
            var timeline: UInt32 = 0
            var lsn: UInt64 = 0
            var entries: [TimelineHistory.Entry] = []
            for _ in 0..<count {
                timeline += UInt32.random(in: 1...3, using: &rng)
                lsn += UInt64.random(in: 0...(1 << 36), using: &rng)
                entries.append(.init(timeline: TimelineID(timeline), switchpoint: LSN(lsn),
                                     reason: ["no recovery target specified", "", "before 2026-11-22 10:15:00+00"].randomElement(using: &rng)!))
            }
            let history = TimelineHistory(timeline: TimelineID(timeline + 1), entries: entries)
            let parsed = try TimelineHistory(parsing: history.formatted(), timeline: history.timeline)
            #expect(parsed == history)
            // Every LSN belongs to exactly the range the history gives it.
            let probe = LSN(UInt64.random(in: 0...(lsn + 10), using: &rng))
            let owners = history.ranges.filter { $0.contains(probe) }.map(\.timeline)
            #expect(owners == [history.timeline(of: probe)])
        }
    }
}
