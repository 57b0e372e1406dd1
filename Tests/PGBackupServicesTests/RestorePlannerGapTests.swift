import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// The restore planner and the gaps the daemon recorded: a target inside one is refused,
/// naming it.
@Suite("Restore planning: recorded WAL gaps")
struct RestorePlannerGapTests {
    typealias Base = RestorePlannerTests
    static let detected = Base.t0.addingTimeInterval(40 * 60)
    /// Segments 9…10 are missing; the WAL before them was stored by minute 30.
    static let gap = WALGap(
        startLSN: LSN(9 * Base.segmentSize.bytes), endLSN: LSN(11 * Base.segmentSize.bytes), timeline: TimelineID(1),
        resumedTimeline: TimelineID(1), segmentSize: Base.segmentSize, detectedAt: detected,
        archivedBefore: Base.t0.addingTimeInterval(30 * 60), reason: "requested WAL segment 000000010000000000000009 has already been removed")

    func planner() -> RestorePlanner {
        var planner = RestorePlanner(
            backups: Base.backups, continuity: Base.continuity([(1, 2...8), (1, 11...14)]), histories: [:],
            serverTimes: [TimelineID(1): Base.t0.addingTimeInterval(3600)], server: "main")
        planner.recordedGaps = [Self.gap]
        return planner
    }

    func refusal(_ target: RestoreTarget) -> String? {
        do {
            _ = try planner().plan(target: target, timeline: .latest, backupID: nil)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func anLSNInsideTheGapIsRefusedNamingIt() throws {
        let message = try #require(refusal(.lsn(LSN(9 * Base.segmentSize.bytes + 0x1000))))
        #expect(message.contains("lies inside a gap"), "\(message)")
        #expect(message.contains("000000010000000000000009…00000001000000000000000A"), "\(message)")
        #expect(message.contains("has already been removed"), "\(message)")
    }

    @Test func aTimeTheGapMayHoldIsRefusedNamingIt() throws {
        let message = try #require(refusal(.time(Base.t0.addingTimeInterval(35 * 60))))
        #expect(message.contains("may lie inside a gap") && message.contains("000000010000000000000009"), "\(message)")
    }

    @Test func targetsBeforeTheGapStillRestoreAndTheMissingWALNamesTheRecord() throws {
        #expect(refusal(.lsn(LSN(8 * Base.segmentSize.bytes))) == nil)
        // Latest needs the WAL across the gap: refused, and the refusal names the record.
        let message = try #require(refusal(.latest))
        #expect(message.contains("gap") && message.contains("recorded: WAL gap"), "\(message)")
    }
}

/// The daemon's stored tail (the partial copy after the last completed segment) is part of the
/// archived WAL: recovery replays it, so targets inside it are restorable.
@Suite("Restore planning: the stored partial tail")
struct RestorePlannerTailTests {
    typealias Base = RestorePlannerTests

    @Test func theEndOfTheArchiveIncludesThePartialTail() throws {
        var planner = RestorePlanner(
            backups: Base.backups, continuity: Base.continuity([(1, 2...12)]), histories: [:],
            serverTimes: [TimelineID(1): Base.t0.addingTimeInterval(3600)], server: "main")
        let completedEnd = LSN(13 * Base.segmentSize.bytes)
        let inTail = completedEnd + 0x8000
        #expect(throws: RestoreRefusal.self) { try planner.plan(target: .lsn(inTail), timeline: .latest, backupID: nil) }
        planner.partialEnds[TimelineID(1)] = completedEnd + 0x10000
        let plan = try planner.plan(target: .lsn(inTail), timeline: .latest, backupID: nil)
        #expect(plan.backup.label == "b2" && plan.endOfArchive == inTail)
        #expect(try planner.plan(target: .latest, timeline: .latest, backupID: nil).endOfArchive == completedEnd + 0x10000)
        #expect(throws: RestoreRefusal.self) { try planner.plan(target: .lsn(completedEnd + 0x10001), timeline: .latest, backupID: nil) }
    }
}
