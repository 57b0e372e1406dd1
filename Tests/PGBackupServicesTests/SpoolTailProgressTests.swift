import Testing
import PGBackupFoundations
@testable import PGBackupServices

/// A new stream restarts the segment being written from its start: its first partial copies are
/// shorter than the one the repository holds and must not replace it.
@Suite("Stream progress: the stored partial copy")
struct SpoolTailProgressTests {
    @Test func aShorterCopyOfTheStoredPartialIsNotStoredAgain() throws {
        let size = try WALSegmentSize(megabytes: 1)
        let segment = WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: size)
        var progress = StreamProgress(start: segment.startLSN, archived: segment.startLSN)
        #expect(!progress.holdsPartial(segment, length: 1))
        progress.didStorePartial(segment, length: 800_000)
        progress.restart(at: segment.startLSN)  // a reconnection: the stored copy stays
        #expect(progress.holdsPartial(segment, length: 100_000))
        #expect(progress.holdsPartial(segment, length: 800_000))
        #expect(!progress.holdsPartial(segment, length: 800_001))
        progress.didStorePartial(segment, length: 10)  // never shrinks
        #expect(progress.holdsPartial(segment, length: 800_000))
        #expect(!progress.holdsPartial(segment.next!, length: 10))
    }
}
