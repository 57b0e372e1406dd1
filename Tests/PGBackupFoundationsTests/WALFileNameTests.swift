import PGBackupFoundations
import Testing

@Suite struct WALFileNameTests {
    let size = WALSegmentSize.default
    var segment3: WALSegmentName { WALSegmentName(timeline: TimelineID(1), segmentNumber: 3, segmentSize: size) }

    @Test func classifies() throws {
        #expect(try WALFileName(parsing: "000000010000000000000003", segmentSize: size) == .segment(segment3))
        #expect(try WALFileName(parsing: "000000010000000000000003.partial", segmentSize: size) == .partialSegment(segment3))
        #expect(try WALFileName(parsing: "00000002.history", segmentSize: size) == .history(TimelineID(2)))
        #expect(try WALFileName(parsing: "000000010000000000000003.00000028.backup", segmentSize: size)
            == .backupHistory(segment3, offset: 0x28))
    }

    @Test(arguments: [
        "000000010000000000000003", "000000010000000000000003.partial", "0000000A.history",
        "000000010000000000000003.00000028.backup", "FFFFFFFFFFFFFFFF000000FF.00FFFFFF.backup",
    ])
    func roundTrips(name: String) throws {
        let file = try WALFileName(parsing: name, segmentSize: size)
        #expect(file.name == name)
        #expect(file.description == name)
    }

    @Test(arguments: [
        "archive_status", "00000002.History", "0000002.history", "00000002.historyx", "0000000g.history",
        "000000010000000000000003.Partial", "000000010000000000000003.0000028.backup",
        "000000010000000000000003.00000028.backups", "000000010000000000000003_00000028.backup",
        "000000010000000000000003.01000000.backup", "000000010000000000000003.zst", "RECOVERYHISTORY", "",
    ])
    func rejectsOthers(name: String) {
        #expect(throws: WALNameError.self) { try WALFileName(parsing: name, segmentSize: size) }
    }

    @Test func rejectsTimelineZeroHistory() {
        #expect(throws: WALNameError.timelineZero("00000000.history")) {
            try WALFileName(parsing: "00000000.history", segmentSize: size)
        }
    }

    @Test func backupHistoryFromStartLSN() {
        let file = WALFileName.backupHistory(timeline: TimelineID(1), startLSN: LSN("0/3000028")!, segmentSize: size)
        #expect(file.name == "000000010000000000000003.00000028.backup")
        #expect(file.timeline == TimelineID(1))
        let big = WALFileName.backupHistory(timeline: TimelineID(2), startLSN: LSN("1/A0000060")!,
                                            segmentSize: try! WALSegmentSize(megabytes: 64))
        #expect(big.name == "000000020000000100000028.00000060.backup")
    }

    @Test func errorMessage() {
        #expect(WALNameError.notAWALFileName("foo").description.hasPrefix("unable to parse WAL file name 'foo': expected"))
    }
}
