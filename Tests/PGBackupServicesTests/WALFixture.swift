import PGBackupFoundations
import PGBackupRepository

/// WAL archives made in code for the planners' tests: completed segments per timeline (16 MiB
/// segments) and history files.
enum WALFixture {
    static let segmentSize = try! WALSegmentSize(megabytes: 16)

    static func continuity(_ segments: [(timeline: UInt32, numbers: ClosedRange<UInt64>)], histories: [UInt32] = []) -> WALContinuity {
        var entries: [WALArchiveEntry] = []
        for (timeline, numbers) in segments {
            for number in numbers {
                entries.append(.segment(WALSegmentName(timeline: TimelineID(timeline), segmentNumber: number, segmentSize: segmentSize), .zstd))
            }
        }
        entries += histories.map { .history(TimelineID($0)) }
        return WALContinuity(entries: entries, segmentSize: segmentSize)
    }
}
