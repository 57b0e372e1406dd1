import PGBackupFoundations
import PropertyBased
import Testing

private func size(_ megabytes: Int) -> WALSegmentSize { try! WALSegmentSize(megabytes: megabytes) }

@Suite struct WALSegmentNameTests {
    /// Values PostgreSQL computes (`pg_walfile_name` uses the previous-segment rule, see below).
    @Test(arguments: [
        ("0/3000028", 1, 16, "000000010000000000000003"),
        ("1/A0000000", 1, 16, "0000000100000001000000A0"),
        ("1/A0000000", 1, 64, "000000010000000100000028"),
        ("1/A0000000", 1, 1, "000000010000000100000A00"),
        ("1/C0000000", 1, 1024, "000000010000000100000003"),
        ("0/3000028", 1, 1, "000000010000000000000030"),
        ("16/B374D848", 2, 16, "0000000200000016000000B3"),
        ("0/0", 1, 16, "000000010000000000000000"),
        ("FFFFFFFF/FFFFFFFF", 0xFFFF_FFFF, 16, "FFFFFFFFFFFFFFFF000000FF"),
        ("FFFFFFFF/FFFFFFFF", 3, 1024, "00000003FFFFFFFF00000003"),
    ])
    func knownNames(lsn: String, timeline: UInt32, megabytes: Int, expected: String) throws {
        let name = WALSegmentName(timeline: TimelineID(timeline), containing: LSN(lsn)!, segmentSize: size(megabytes))
        #expect(name.name == expected)
        #expect(name.description == expected)
        #expect(try WALSegmentName(parsing: expected, segmentSize: size(megabytes)) == name)
    }

    @Test func endingAtUsesThePreviousSegmentOnABoundary() {
        // pg_walfile_name('0/3000000') is …02: WAL ending exactly on a boundary is in the previous file.
        let size = WALSegmentSize.default
        #expect(WALSegmentName(timeline: TimelineID(1), endingAt: LSN(0x300_0000), segmentSize: size)?.name
            == "000000010000000000000002")
        #expect(WALSegmentName(timeline: TimelineID(1), endingAt: LSN(0x300_0001), segmentSize: size)?.name
            == "000000010000000000000003")
        #expect(WALSegmentName(timeline: TimelineID(1), endingAt: .zero, segmentSize: size) == nil)
    }

    @Test func startEndAndContains() {
        let segment = WALSegmentName(timeline: TimelineID(1), containing: LSN("1/A0000123")!, segmentSize: .default)
        #expect(segment.startLSN == LSN("1/A0000000"))
        #expect(segment.lastLSN == LSN("1/A0FFFFFF"))
        #expect(segment.endLSN == LSN("1/A1000000"))
        #expect(segment.contains(LSN("1/A0000000")!))
        #expect(segment.contains(LSN("1/A0FFFFFF")!))
        #expect(!segment.contains(LSN("1/A1000000")!))
        #expect(!segment.contains(LSN("1/9FFFFFFF")!))
        #expect(segment.logID == 1)
        #expect(segment.segmentInLog == 0xA0)
        #expect(segment.directory.name == "0000000100000001")
    }

    @Test func nextAndPreviousCrossTheLogBoundary() {
        let last = WALSegmentName(timeline: TimelineID(1), containing: LSN("0/FF000000")!, segmentSize: .default)
        #expect(last.name == "0000000100000000000000FF")
        #expect(last.next?.name == "000000010000000100000000")
        #expect(last.next?.previous == last)
        let first = WALSegmentName(timeline: TimelineID(1), segmentNumber: 0, segmentSize: .default)
        #expect(first.previous == nil)
        let gib = WALSegmentName(timeline: TimelineID(1), containing: LSN("0/C0000000")!, segmentSize: size(1024))
        #expect(gib.name == "000000010000000000000003")
        #expect(gib.next?.name == "000000010000000100000000")
    }

    @Test func theEndOfTheAddressSpace() {
        let last = WALSegmentName(timeline: TimelineID(1), containing: LSN(UInt64.max), segmentSize: .default)
        #expect(last.next == nil)
        #expect(last.lastLSN == LSN(UInt64.max))
        #expect(last.endLSN == .zero)  // wraps, as PostgreSQL's arithmetic does
        #expect(last.segmentNumber == WALSegmentSize.default.maximumSegmentNumber)
    }

    @Test func ordersByTimelineThenSegment() {
        let a = WALSegmentName(timeline: TimelineID(1), segmentNumber: 9, segmentSize: .default)
        let b = WALSegmentName(timeline: TimelineID(2), segmentNumber: 1, segmentSize: .default)
        let c = WALSegmentName(timeline: TimelineID(2), segmentNumber: 2, segmentSize: .default)
        #expect([c, b, a].sorted() == [a, b, c])
        #expect([c, b, a].sorted().map(\.name) == [c, b, a].map(\.name).sorted())
        #expect(a.on(timeline: TimelineID(2)).name == "000000020000000000000009")
    }

    @Test(arguments: [
        "00000001000000000000000", "0000000100000000000000003", "00000001000000000000000g",
        "000000010000000000000a03", "00000001 000000000000003", "", "history", "0000000G0000000000000003",
    ])
    func rejectsMalformedNames(name: String) {
        #expect(throws: WALNameError.notAWALFileName(name)) { try WALSegmentName(parsing: name, segmentSize: .default) }
    }

    @Test func rejectsSegmentsThatDoNotExistWithThisSize() {
        #expect(throws: WALNameError.segmentOutOfRange(name: "000000010000000000000100", segment: 0x100, segmentSize: .default)) {
            try WALSegmentName(parsing: "000000010000000000000100", segmentSize: .default)
        }
        #expect(throws: WALNameError.self) { try WALSegmentName(parsing: "000000010000000000000004", segmentSize: size(1024)) }
        #expect(throws: Never.self) { try WALSegmentName(parsing: "000000010000000000000FFF", segmentSize: size(1)) }
        let message = WALNameError.segmentOutOfRange(name: "000000010000000000000004", segment: 4, segmentSize: size(1024)).description
        #expect(message == "unable to parse WAL file name '000000010000000000000004': segment part 4 does not exist with"
            + " 1 GiB segments (at most 3); HINT: is the configured segment size right?")
    }

    @Test func rejectsTimelineZero() {
        #expect(throws: WALNameError.timelineZero("000000000000000000000003")) {
            try WALSegmentName(parsing: "000000000000000000000003", segmentSize: .default)
        }
    }

    @Test(arguments: [1, 16, 64, 1024])
    func roundTripsAnyLSN(megabytes: Int) async {
        let segmentSize = size(megabytes)
        await propertyCheck(input: Gen.uint64(), Gen.uint32(in: 1...UInt32.max)) { (raw: UInt64, tli: UInt32) throws in
            let lsn = LSN(raw)
            let segment = WALSegmentName(timeline: TimelineID(tli), containing: lsn, segmentSize: segmentSize)
            #expect(segment.name.count == 24)
            #expect(try WALSegmentName(parsing: segment.name, segmentSize: segmentSize) == segment)
            #expect(segment.startLSN <= lsn && lsn <= segment.lastLSN)
            #expect(segment.contains(lsn))
            #expect(segmentSize.offset(of: lsn) == lsn - segment.startLSN)
            #expect(segment.name.hasPrefix(segment.directory.name))
            #expect(try WALLogDirectory(parsing: segment.directory.name) == segment.directory)
            #expect(segment.directory.logID == UInt32(raw >> 32))
            if let next = segment.next {
                #expect(next.startLSN == segment.endLSN)
                #expect(next.previous == segment)
                #expect(next > segment)
            }
        }
    }

    @Test func logDirectory() throws {
        let directory = try WALLogDirectory(parsing: "00000002000000A1")
        #expect(directory.timeline == TimelineID(2))
        #expect(directory.logID == 0xA1)
        #expect(directory.description == "00000002000000A1")
        #expect(throws: WALNameError.self) { try WALLogDirectory(parsing: "00000002000000a1") }
        #expect(throws: WALNameError.self) { try WALLogDirectory(parsing: "00000002000000A") }
        #expect(throws: WALNameError.timelineZero("00000000000000A1")) { try WALLogDirectory(parsing: "00000000000000A1") }
    }
}

@Suite struct WALSegmentRangeTests {
    @Test func covering() {
        let names = { (start: String, end: String) in
            Array(WALSegmentName.covering(from: LSN(start)!, to: LSN(end)!, timeline: TimelineID(1), segmentSize: .default).map(\.name))
        }
        #expect(names("0/3000028", "0/3000100") == ["000000010000000000000003"])
        #expect(names("0/3000028", "0/5000000") == ["000000010000000000000003", "000000010000000000000004"])
        #expect(names("0/3000028", "0/5000001") == ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005"])
        #expect(names("0/FF000000", "1/1000000") == ["0000000100000000000000FF", "000000010000000100000000"])
        #expect(names("0/3000028", "0/3000028").isEmpty)
        #expect(names("0/5000000", "0/3000000").isEmpty)
        #expect(WALSegmentName.covering(from: .zero, to: LSN(UInt64.max), timeline: TimelineID(1), segmentSize: .default).count
            == 1 << 40)
    }

    @Test func historyPicksTheTimelineOfEachSegment() throws {
        let history = try TimelineHistory(parsing: TimelineHistoryTests.three, timeline: TimelineID(3))
        let names = history.segments(from: LSN("0/1000000")!, to: LSN("0/7000000")!, segmentSize: .default).map(\.name)
        #expect(names == [
            "000000010000000000000001", "000000010000000000000002",
            "000000020000000000000003", "000000020000000000000004",
            "000000030000000000000005", "000000030000000000000006",
        ])
    }
}
