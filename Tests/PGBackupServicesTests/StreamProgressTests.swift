import Foundation
import Testing
import PGBackupFoundations
import PGBackupTestSupport
@testable import PGBackupServices

@Suite("WAL stream bookkeeping")
struct StreamProgressTests {
    @Test func flushNeverPassesWhatTheRepositoryHolds() {
        var progress = StreamProgress(start: LSN(0x300_0000), archived: LSN(0x300_0000))
        progress.didReceive(upTo: LSN(0x380_0000))
        #expect(progress.status == (write: LSN(0x300_0000), flush: LSN(0x300_0000)))
        progress.didSyncSpool()
        #expect(progress.status.write == LSN(0x380_0000))
        #expect(progress.status.flush == LSN(0x300_0000), "durable in the spool only: written, not flushed")
        progress.didArchive(upTo: LSN(0x340_0000))
        #expect(progress.status == (write: LSN(0x380_0000), flush: LSN(0x340_0000)))
    }

    @Test func aSegmentCompletedMidBatchIsWrittenOnlyUpToItsEnd() {
        var progress = StreamProgress(start: LSN(0x300_0000), archived: LSN(0x300_0000))
        progress.didReceive(upTo: LSN(0x410_0000))
        progress.didSyncSpool(upTo: LSN(0x400_0000))
        #expect(progress.written == LSN(0x400_0000))
        progress.didSyncSpool(upTo: LSN(0x500_0000))
        #expect(progress.written == LSN(0x410_0000), "never beyond what was received")
    }

    @Test(arguments: 0..<50)
    func positionsOnlyMoveForward(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let steps = (0..<200).map { _ in UInt32.random(in: 0...UInt32.max, using: &generator) }
        do {
            var progress = StreamProgress(start: LSN(1 << 24), archived: LSN(1 << 24))
            var previous = progress.status
            for step in steps {
                switch step % 4 {
                case 0: progress.didReceive(upTo: progress.received + UInt64(step % 100_000))
                case 1: progress.didSyncSpool()
                case 2: progress.didArchive(upTo: LSN(UInt64(step)) < progress.written ? LSN(UInt64(step)) : progress.written)
                default: progress.didSyncSpool(upTo: progress.received - UInt64(step % 7))
                }
                #expect(progress.status.flush >= previous.flush)
                #expect(progress.status.write >= previous.write)
                #expect(progress.status.flush <= progress.status.write)
                #expect(progress.written <= progress.received)
                previous = progress.status
            }
        }
    }

    @Test func flushNeverGoesBelowTheStreamsStart() {
        // An empty repository: the stream starts at the slot's restart point, and reporting
        // less than that would move the slot backwards.
        var progress = StreamProgress(start: LSN(0x500_0000), archived: .zero)
        #expect(progress.status == (write: LSN(0x500_0000), flush: LSN(0x500_0000)))
        progress.didReceive(upTo: LSN(0x580_0000))
        progress.didSyncSpool()
        #expect(progress.status == (write: LSN(0x580_0000), flush: LSN(0x500_0000)))
        progress.didArchive(upTo: LSN(0x540_0000))
        #expect(progress.status.flush == LSN(0x540_0000))
    }

    @Test func aReconnectionKeepsWhatTheRepositoryHolds() {
        var progress = StreamProgress(start: LSN(0x300_0000), archived: LSN(0x300_0000))
        progress.didReceive(upTo: LSN(0x500_0000))
        progress.didSyncSpool()
        progress.didArchive(upTo: LSN(0x400_0000))
        progress.restart(at: LSN(0x400_0000))
        #expect(progress.received == LSN(0x400_0000))
        #expect(progress.status == (write: LSN(0x400_0000), flush: LSN(0x400_0000)))
    }

    @Test func streamingStartsAtTheRepositorysEndElseTheSlotElseTheServer() {
        let size = WALSegmentSize.default
        let server = (TimelineID(2), LSN(0x7_2345_6789))
        #expect(SessionPlan.start(archiveEnd: (TimelineID(1), LSN(0x5_0000_0000)), slot: (LSN(0x4_1000_0000), TimelineID(1)),
                                  server: server, segmentSize: size) == (TimelineID(1), LSN(0x5_0000_0000)))
        #expect(SessionPlan.start(archiveEnd: nil, slot: (LSN(0x4_1234_5678), TimelineID(1)), server: server, segmentSize: size)
                == (TimelineID(1), LSN(0x4_1200_0000)))
        #expect(SessionPlan.start(archiveEnd: nil, slot: (LSN.zero, nil), server: server, segmentSize: size)
                == (TimelineID(2), LSN(0x7_2300_0000)))
        #expect(SessionPlan.start(archiveEnd: nil, slot: nil, server: server, segmentSize: size) == (TimelineID(2), LSN(0x7_2300_0000)))
    }
}

@Suite("WAL spool")
struct WALSpoolTests {
    @Test func writesSplitAtSegmentBoundariesAndCompleteSegments() throws {
        let directory = "/tmp/pgbackup-spool-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let size = try WALSegmentSize(megabytes: 1)
        let spool = try WALSpool(directory: directory, segmentSize: size)
        var generator = SeededGenerator(seed: 7)
        let first = generator.bytes(900_000)
        let second = generator.bytes(400_000)  // crosses into the next segment
        let timeline = TimelineID(1)
        let start = LSN(0x100_0000)
        #expect(try first.withUnsafeBytes { try spool.write($0, at: start, timeline: timeline) }.isEmpty)
        let completed = try second.withUnsafeBytes { try spool.write($0, at: start + 900_000, timeline: timeline) }
        let segment = WALSegmentName(timeline: timeline, containing: start, segmentSize: size)
        #expect(completed == [segment])
        let whole = try Data(contentsOf: URL(fileURLWithPath: spool.completedPath(segment)))
        #expect(whole.count == 1 << 20)
        #expect(Array(whole) == Array((first + second).prefix(1 << 20)))
        let next = segment.next!
        #expect(spool.currentSegment == next)
        try spool.sync()
        let partial = try Data(contentsOf: URL(fileURLWithPath: spool.partialPath(next)))
        #expect(Array(partial) == Array((first + second).dropFirst(1 << 20)))
        #expect(spool.pendingSegments() == [segment])
        try spool.closeCurrent()
        let partials = spool.partialFiles()
        #expect(partials.map(\.segment) == [next] && partials.map(\.size) == [partial.count])
        #expect(partials.map(\.path) == [spool.partialPath(next)])
        #expect(spool.pendingSegments() == [segment])
    }
}
