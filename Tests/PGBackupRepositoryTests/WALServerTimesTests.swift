import Foundation
import PGBackupFoundations
import PGBackupStorage
import Testing
@testable import PGBackupRepository

/// The server times recorded with stored WAL (the (time, LSN) index): keys, storing, and the
/// last recorded time of a timeline's archive that restore planning checks time targets against.
@Suite("WAL archive: server times")
struct WALServerTimesTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    @Test func recordKeysRoundTripAndAreNotUnrecognized() throws {
        let layout = WALArchiveLayout(prefix: "main/wal/")
        let size = try WALSegmentSize(megabytes: 16)
        let segment = WALSegmentName(timeline: TimelineID(2), segmentNumber: 0xA1 * 256 + 0xFE, segmentSize: size)
        #expect(layout.key(of: .serverTimes(segment, partial: false)) == "main/wal/00000002000000A1/00000002000000A1000000FE.times")
        #expect(layout.key(of: .serverTimes(segment, partial: true)) == "main/wal/partial/00000002000000A1000000FE.partial.times")
        for entry in [WALArchiveEntry.serverTimes(segment, partial: false), .serverTimes(segment, partial: true)] {
            #expect(layout.entry(forKey: layout.key(of: entry), segmentSize: size) == entry)
        }
        // Filed under another directory, it is not where readers look.
        #expect(layout.entry(forKey: "main/wal/0000000200000001/00000002000000A1000000FE.times", segmentSize: size) == nil)
        let continuity = WALContinuity(
            keys: [layout.key(of: .segment(segment, .zstd)), layout.key(of: .serverTimes(segment, partial: false)),
                   layout.key(of: .serverTimes(segment, partial: true))],
            layout: layout, segmentSize: size)
        #expect(continuity.unrecognizedKeys.isEmpty)
        #expect(continuity.timeline(TimelineID(2))?.ranges.count == 1 && continuity.timeline(TimelineID(2))?.partials == [])
    }

    @Test func marksRoundUpToTheMillisecondTheRecordKeeps() throws {
        let mark = WALTimeMark(time: Self.t0.addingTimeInterval(0.123_000_4), lsn: LSN(5))
        #expect(abs(mark.time.timeIntervalSince(Self.t0) - 0.124) < 1e-6)
        #expect(String(decoding: try RepositoryJSON.encode(mark), as: UTF8.self).contains(#""time" : "2026-11-18T11:06:40.124Z""#))
        let record = WALTimeRecord(marks: [mark, WALTimeMark(time: Self.t0.addingTimeInterval(2), lsn: LSN(9))])
        #expect(try RepositoryJSON.decode(WALTimeRecord.self, from: RepositoryJSON.encode(record)) == record)
        #expect(record.last?.lsn == LSN(9))
    }

    @Test("the newest WAL's record is the timeline's last server time", arguments: StoreKind.allCases)
    func theNewestRecordBoundsTheArchive(kind: StoreKind) async throws {
        try await withArchive(kind) { f in
            let content = f.segmentContent(seed: 7)
            let (three, four) = (f.segment(1, 3), f.segment(1, 4))
            func record(_ segment: WALSegmentName, upTo end: LSN, seconds: Double) -> WALTimeRecord {
                WALTimeRecord(marks: [
                    WALTimeMark(time: Self.t0, lsn: segment.startLSN + 0x100),
                    WALTimeMark(time: Self.t0.addingTimeInterval(seconds), lsn: end),
                ])
            }
            func last() async throws -> Date? {
                let (continuity, times) = try await f.archive.survey()
                #expect(continuity.unrecognizedKeys.isEmpty)
                return times[TimelineID(1)]?.time
            }
            // A segment stored without a record (wal-push): no time is known.
            _ = try await f.archive.storeSegment(f.segment(1, 2), contentsOf: try f.file("2", content))
            #expect(try await last() == nil)
            // A completed segment with its record.
            _ = try await f.archive.storeSegment(three, contentsOf: try f.file("3", content), serverTimes: record(three, upTo: three.endLSN, seconds: 10))
            #expect(try await last() == Self.t0.addingTimeInterval(10))
            // A partial ahead of it, with a record: that is the end now.
            let partialPath = try f.file("4.partial", content)
            try await f.archive.storePartial(four, contentsOf: partialPath, length: 4096, serverTimes: record(four, upTo: four.startLSN + 4096, seconds: 20))
            #expect(try await last() == Self.t0.addingTimeInterval(20))
            // A longer copy stored without a record takes the old record away: that WAL's time is unknown.
            try await f.archive.storePartial(four, contentsOf: partialPath, length: 8192)
            #expect(try await last() == nil)
            // Completing the segment removes the partial and its record.
            try await f.archive.storePartial(four, contentsOf: partialPath, length: 8192, serverTimes: record(four, upTo: four.startLSN + 8192, seconds: 30))
            _ = try await f.archive.storeSegment(four, contentsOf: try f.file("4", content), serverTimes: record(four, upTo: four.endLSN, seconds: 40))
            try await f.archive.removePartial(four)
            #expect(try await f.store.list(prefix: "main/wal/partial/").isEmpty)
            #expect(try await last() == Self.t0.addingTimeInterval(40))
            // A completed segment whose record stops short of its end bounds nothing.
            let five = f.segment(1, 5)
            _ = try await f.archive.storeSegment(five, contentsOf: try f.file("5", content), serverTimes: record(five, upTo: five.endLSN - 1, seconds: 50))
            #expect(try await last() == nil)
        }
    }
}
