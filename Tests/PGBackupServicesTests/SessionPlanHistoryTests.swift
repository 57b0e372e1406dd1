import PGBackupFoundations
import Testing
@testable import PGBackupServices

@Suite("Where a session starts on a server with a timeline history")
struct SessionPlanHistoryTests {
    let size = WALSegmentSize.default  // 16 MiB: segment boundaries at 0x1000000
    let slot: (LSN, TimelineID?)? = nil

    func history(_ timeline: UInt32, _ switches: [(UInt32, UInt64)]) -> TimelineHistory {
        TimelineHistory(timeline: TimelineID(timeline), entries: switches.map { .init(timeline: TimelineID($0.0), switchpoint: LSN($0.1)) })
    }

    func start(_ ends: [UInt32: UInt64], on history: TimelineHistory, server: UInt64 = 0x9_0000_0000) -> (UInt32, UInt64, Bool) {
        let archiveEnds = Dictionary(uniqueKeysWithValues: ends.map { (TimelineID($0.key), LSN($0.value)) })
        let result = SessionPlan.start(
            archiveEnds: archiveEnds, history: history, slot: slot, server: (history.timeline, LSN(server)), segmentSize: size)
        return (result.timeline.rawValue, result.lsn.rawValue, result.fromArchive)
    }

    @Test func theSameTimelineResumesAtTheRepositorysEnd() {
        #expect(start([1: 0x500_0000], on: history(1, [])) == (1, 0x500_0000, true))
    }

    @Test func aRepositoryBehindTheForkStreamsTheOldTimelineFromTheNewPrimary() {
        let server = history(2, [(1, 0x700_0100)])
        #expect(start([1: 0x500_0000], on: server) == (1, 0x500_0000, true))
        // Up to the boundary of the segment holding the switch point: still the old timeline.
        #expect(start([1: 0x700_0000], on: server) == (1, 0x700_0000, true))
    }

    @Test func aRepositoryAtOrPastTheForkStartsOnTheNewTimelineAtTheSwitchSegment() {
        let server = history(2, [(1, 0x700_0100)])
        #expect(start([1: 0x800_0000], on: server) == (2, 0x700_0000, true))
        #expect(start([1: 0xC00_0000], on: server) == (2, 0x700_0000, true), "the old primary got four segments further")
        let atBoundary = history(2, [(1, 0x700_0000)])
        #expect(start([1: 0x700_0000], on: atBoundary) == (2, 0x700_0000, true))
    }

    @Test func twoSwitchesAreWalkedFromWhereverTheRepositoryEnds() {
        let server = history(3, [(1, 0x300_0100), (2, 0x500_0200)])
        #expect(start([1: 0x200_0000], on: server) == (1, 0x200_0000, true))
        #expect(start([1: 0x900_0000], on: server) == (2, 0x300_0000, true), "past the first fork: timeline 2 from its start")
        #expect(start([1: 0x300_0000, 2: 0x400_0000], on: server) == (2, 0x400_0000, true))
        #expect(start([1: 0x300_0000, 2: 0x600_0000], on: server) == (3, 0x500_0000, true))
        #expect(start([1: 0x300_0000, 2: 0x400_0000, 3: 0x800_0000], on: server) == (3, 0x800_0000, true))
    }

    @Test func aTimelineOffTheServersPathIsNotStreamedFrom() {
        // The repository holds a sibling branch (timeline 3 forked from 1); the server is on 2.
        let server = history(2, [(1, 0x300_0100)])
        #expect(start([1: 0x200_0000, 3: 0x800_0000], on: server) == (1, 0x200_0000, true))
        // Nothing of the server's path: its current segment, not from the archive.
        #expect(start([3: 0x800_0000], on: server, server: 0x9_1234_5678) == (2, 0x9_1200_0000, false))
        #expect(start([:], on: history(1, []), server: 0x9_1234_5678) == (1, 0x9_1200_0000, false))
    }

    @Test func theMissingHistoryFilesOfThePathAreFetched() {
        #expect(SessionPlan.missingHistories(path: [TimelineID(1), TimelineID(2), TimelineID(3)], held: [TimelineID(2)]) == [TimelineID(3)])
        #expect(SessionPlan.missingHistories(path: [TimelineID(1)], held: []).isEmpty)
        #expect(SessionPlan.missingHistories(path: [TimelineID(1), TimelineID(4)], held: []) == [TimelineID(4)])
    }
}
