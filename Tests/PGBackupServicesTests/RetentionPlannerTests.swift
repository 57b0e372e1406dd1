import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// The retention planner's decisions, rule by rule, on hand-made catalogs and archives.
@Suite("Retention planning")
struct RetentionPlannerTests {
    static let segmentSize = try! WALSegmentSize(megabytes: 16)
    static let day: TimeInterval = 86_400

    /// A UTC instant, `2026-11-29T23:00:00Z`.
    static func utc(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text)!
    }

    /// A backup on `timeline` from segment `start` to segment `stop` that ended at `stop time`.
    static func backup(
        timeline: UInt32 = 1, start: UInt64, stop: UInt64, at stopTime: Date, pin: RetentionPin? = nil
    ) -> RetentionBackup {
        RetentionBackup(
            id: BackupID(date: stopTime.addingTimeInterval(-30)), timeline: TimelineID(timeline),
            startLSN: LSN(start * segmentSize.bytes + 0x28), stopLSN: LSN(stop * segmentSize.bytes + 0x100),
            stopTime: stopTime, pin: pin)
    }

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

    static func range(_ timeline: UInt32, _ numbers: ClosedRange<UInt64>) -> WALSegmentRange {
        WALSegmentRange(
            first: WALSegmentName(timeline: TimelineID(timeline), segmentNumber: numbers.lowerBound, segmentSize: segmentSize),
            last: WALSegmentName(timeline: TimelineID(timeline), segmentNumber: numbers.upperBound, segmentSize: segmentSize))
    }

    static let t0 = utc("2026-11-20T01:00:00Z")
    /// Three daily backups on timeline 1, segments 2–3, 10–11 and 20–21; the archive holds 1–30.
    static let three = [
        backup(start: 2, stop: 3, at: t0), backup(start: 10, stop: 11, at: t0 + day), backup(start: 20, stop: 21, at: t0 + 2 * day),
    ]
    static let archive = continuity([(1, 1...30)])

    func plan(
        _ rules: RetentionRules?, _ backups: [RetentionBackup] = Self.three, archive: WALContinuity = Self.archive,
        histories: [TimelineID: TimelineHistory] = [:], now: Date = Self.t0 + 3 * Self.day
    ) -> RetentionPlan {
        RetentionPlanner(rules: rules, backups: backups, continuity: archive, histories: histories, now: now).plan()
    }

    /// The kept backups' reasons, by index into `backups`, for reading at a glance.
    func reasons(_ plan: RetentionPlan, _ backups: [RetentionBackup]) -> [Int: [RetentionReason]] {
        Dictionary(uniqueKeysWithValues: plan.kept.map { kept in (backups.firstIndex { $0.id == kept.id }!, kept.reasons) })
    }

    // MARK: no policy

    @Test func withoutRulesEverythingStaysAndNoWALGoes() {
        for rules in [nil, RetentionRules(), RetentionRules(minimumRedundancy: 2, wal: .consistency)] {
            let plan = plan(rules, Self.three.reversed())
            #expect(plan.kept.map(\.id) == Self.three.map(\.id), "oldest first whatever the input order")
            #expect(plan.removed.isEmpty)
            #expect(plan.walRemovals.isEmpty)
            #expect(plan.kept.allSatisfy { $0.reasons.contains(.noPolicy) })
            #expect(plan.kept.last!.reasons.contains(.minimum))
        }
    }

    @Test func noBackupsRemovesNothing() {
        let plan = plan(RetentionRules(redundancy: 1), [])
        #expect(plan == RetentionPlan(kept: [], removed: [], walRemovals: []))
    }

    // MARK: redundancy and the WAL it leaves

    @Test func redundancyKeepsTheNewestAndPITRWALFromTheOldestKept() {
        let plan = plan(RetentionRules(redundancy: 2))
        #expect(plan.removed == [Self.three[0].id])
        #expect(reasons(plan, Self.three) == [1: [.redundancy], 2: [.redundancy, .minimum]])
        #expect(plan.walRemovals == [Self.range(1, 1...9)])
    }

    @Test func consistencyKeepsEachBackupsOwnWALAndTheLiveTail() {
        let plan = plan(RetentionRules(redundancy: 2, wal: .consistency))
        #expect(plan.removed == [Self.three[0].id])
        // B2's own 10–11 stay; 12–19 go; from the newest backup's start (20) to the end stays.
        #expect(plan.walRemovals == [Self.range(1, 1...9), Self.range(1, 12...19)])
    }

    @Test func removalsNameOnlySegmentsTheArchiveHolds() {
        let holey = Self.continuity([(1, 4...6), (1, 8...8), (1, 15...25)])
        let plan = plan(RetentionRules(redundancy: 1), archive: holey)
        #expect(plan.walRemovals == [Self.range(1, 4...6), Self.range(1, 8...8), Self.range(1, 15...19)])
    }

    // MARK: never empty, minimum

    @Test func theNewestBackupAlwaysStays() {
        let plan = plan(RetentionRules(redundancy: 0))
        #expect(plan.kept.map(\.id) == [Self.three[2].id])
        #expect(plan.kept[0].reasons == [.minimum])
        #expect(plan.removed == [Self.three[0].id, Self.three[1].id])
    }

    @Test func minimumRedundancyIsAFloor() {
        let plan = plan(RetentionRules(redundancy: 1, minimumRedundancy: 3))
        #expect(plan.removed.isEmpty)
        #expect(reasons(plan, Self.three) == [0: [.minimum], 1: [.minimum], 2: [.redundancy, .minimum]])
        #expect(plan.walRemovals == [Self.range(1, 1...1)])
    }
}
