import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// The retention planner's decisions, rule by rule, on hand-made catalogs and archives.
@Suite("Retention planning")
struct RetentionPlannerTests {
    static let segmentSize = WALFixture.segmentSize
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
        WALFixture.continuity(segments, histories: histories)
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

    // MARK: recovery window

    @Test func theWindowKeepsWhatEndedInsideItAndTheNewestBackupBeforeIt() {
        let now = Self.utc("2026-11-30T12:00:00Z")
        let backups = [-10, -8, -7, -5, -1].map { (days: Int) -> RetentionBackup in
            let segment = UInt64(40 + 2 * days)
            return Self.backup(start: segment, stop: segment, at: now.addingTimeInterval(Double(days) * Self.day))
        }
        let plan = plan(RetentionRules(recoveryWindow: 7 * Self.day), backups, archive: Self.continuity([(1, 1...40)]), now: now)
        // -7 days ends exactly at the window's start: inside. -8 is the newest before it: PITR to
        // the window's start replays from it. -10 goes.
        #expect(plan.removed == [backups[0].id])
        #expect(reasons(plan, backups) == [1: [.window], 2: [.window], 3: [.window], 4: [.window, .minimum]])
        #expect(plan.walRemovals == [Self.range(1, 1...23)])
    }

    @Test func aWindowBeforeEveryBackupStillKeepsTheNewestBeforeIt() {
        let plan = plan(RetentionRules(recoveryWindow: 3600), now: Self.t0 + 30 * Self.day)
        #expect(plan.removed == [Self.three[0].id, Self.three[1].id])
        #expect(plan.kept == [RetentionPlan.Kept(id: Self.three[2].id, reasons: [.window, .minimum])])
    }

    // MARK: GFS

    /// Backups ending at the given instants, one segment each, in order.
    static func at(_ instants: [String]) -> [RetentionBackup] {
        instants.enumerated().map { index, text in backup(start: UInt64(2 + 2 * index), stop: UInt64(2 + 2 * index), at: utc(text)) }
    }

    @Test func dailyKeepsTheNewestOfEachOfTheLastDaysThatHaveOne() {
        let backups = Self.at([
            "2026-11-25T10:00:00Z", "2026-11-27T01:00:00Z", "2026-11-27T13:00:00Z", "2026-11-28T23:59:59Z",
            "2026-11-29T00:00:00Z", "2026-11-29T05:00:00Z",
        ])
        let two = plan(RetentionRules(keepDaily: 2), backups)
        #expect(reasons(two, backups) == [3: [.daily], 5: [.daily, .minimum]])
        // 11-26 has no backup: the third day that has one is 11-27, whose newest is 13:00.
        let three = plan(RetentionRules(keepDaily: 3), backups)
        #expect(reasons(three, backups) == [2: [.daily], 3: [.daily], 5: [.daily, .minimum]])
        #expect(three.removed == [backups[0].id, backups[1].id, backups[4].id])
    }

    @Test func weeklyFollowsISOWeeksMondayToSundayInUTC() {
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
        let backups = Self.at(["2026-11-22T10:00:00Z", "2026-11-23T00:00:00Z", "2026-11-29T23:59:59Z", "2026-11-30T00:00:00Z"])
        let plan = plan(RetentionRules(keepWeekly: 2), backups)
        #expect(reasons(plan, backups) == [2: [.weekly], 3: [.weekly, .minimum]])
    }

    @Test func anISOWeekSpansTheNewYear() {
        // 2026-W53 runs from Monday 2026-12-28 to Sunday 2027-01-03; 2027-W01 starts on 01-04.
        let backups = Self.at(["2026-12-27T12:00:00Z", "2026-12-28T00:00:00Z", "2026-12-31T12:00:00Z", "2027-01-03T23:00:00Z", "2027-01-04T00:30:00Z"])
        let plan = plan(RetentionRules(keepWeekly: 3), backups)
        #expect(reasons(plan, backups) == [0: [.weekly], 3: [.weekly], 4: [.weekly, .minimum]])
        #expect(plan.removed == [backups[1].id, backups[2].id])
    }

    @Test func monthlyAndYearlyRollOverAtUTCMidnight() {
        let backups = Self.at([
            "2025-06-01T00:00:00Z", "2026-01-31T23:59:59Z", "2026-02-01T00:00:00Z", "2026-02-15T08:00:00Z",
            "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z",
        ])
        let monthly = plan(RetentionRules(keepMonthly: 3), backups)
        #expect(reasons(monthly, backups) == [3: [.monthly], 4: [.monthly], 5: [.monthly, .minimum]])
        let yearly = plan(RetentionRules(keepYearly: 3), backups)
        #expect(reasons(yearly, backups) == [0: [.yearly], 4: [.yearly], 5: [.yearly, .minimum]])
        let both = plan(RetentionRules(keepMonthly: 4, keepYearly: 1), backups)
        #expect(reasons(both, backups) == [1: [.monthly], 3: [.monthly], 4: [.monthly], 5: [.monthly, .yearly, .minimum]])
    }

    @Test func everyRuleThatKeepsABackupIsNamed() {
        let backups = Self.at(["2026-11-22T10:00:00Z", "2026-11-29T10:00:00Z", "2026-11-30T10:00:00Z"])
        let rules = RetentionRules(
            redundancy: 1, recoveryWindow: 3600, keepDaily: 2, keepWeekly: 3, keepMonthly: 1, keepYearly: 1, minimumRedundancy: 2)
        let plan = plan(rules, backups, now: Self.utc("2026-11-30T10:30:00Z"))
        #expect(reasons(plan, backups) == [
            0: [.weekly],
            1: [.window, .daily, .weekly, .minimum],
            2: [.redundancy, .window, .daily, .weekly, .monthly, .yearly, .minimum],
        ])
    }

    // MARK: pins

    @Test func aStandalonePinKeepsTheBackupAndOnlyItsOwnWAL() {
        var backups = Self.three
        backups[0].pin = .standalone
        let plan = plan(RetentionRules(redundancy: 1), backups)
        #expect(reasons(plan, backups) == [0: [.pinned], 2: [.redundancy, .minimum]])
        #expect(plan.removed == [backups[1].id])
        // Its own 2–3 stay; the WAL from its end to the next kept backup goes.
        #expect(plan.walRemovals == [Self.range(1, 1...1), Self.range(1, 4...19)])
    }

    @Test func aFullPinKeepsTheBackupAndAllLaterWAL() {
        var backups = Self.three
        backups[0].pin = .full
        for wal in RetentionRules.WALRetention.allCases {
            let plan = plan(RetentionRules(redundancy: 1, wal: wal), backups)
            #expect(reasons(plan, backups) == [0: [.pinned], 2: [.redundancy, .minimum]])
            #expect(plan.walRemovals == [Self.range(1, 1...1)], "wal: \(wal)")
        }
    }

    @Test func aStandalonePinnedBackupAnotherRuleKeepsAnchorsPITR() {
        var backups = Self.three
        backups[1].pin = .standalone
        let plan = plan(RetentionRules(redundancy: 2), backups)
        #expect(reasons(plan, backups) == [1: [.redundancy, .pinned], 2: [.redundancy, .minimum]])
        #expect(plan.walRemovals == [Self.range(1, 1...9)])
    }

    // MARK: timelines

    /// Timeline 2 forks from 1 inside segment 12; timeline 1 went on to 15 (the old primary).
    static let forked = continuity([(1, 1...15), (2, 12...25)], histories: [2])
    static let histories = [
        TimelineID(2): TimelineHistory(timeline: TimelineID(2), entries: [.init(timeline: TimelineID(1), switchpoint: LSN(12 * segmentSize.bytes + 0x100))]),
    ]
    static let acrossTimelines = [
        backup(start: 2, stop: 3, at: t0), backup(start: 8, stop: 9, at: t0 + day),
        backup(timeline: 2, start: 12, stop: 13, at: t0 + 2 * day), backup(timeline: 2, start: 18, stop: 19, at: t0 + 3 * day),
    ]

    @Test func pitrKeepsEveryTimelineFromTheOldestKeptBackup() {
        let plan = plan(RetentionRules(redundancy: 3), Self.acrossTimelines, archive: Self.forked, histories: Self.histories, now: Self.t0 + 4 * Self.day)
        #expect(plan.removed == [Self.acrossTimelines[0].id])
        #expect(plan.walRemovals == [Self.range(1, 1...7)])
    }

    @Test func consistencyReadsEachSegmentFromTheTimelineRecoveryReadsItFrom() {
        let plan = plan(
            RetentionRules(redundancy: 3, wal: .consistency), Self.acrossTimelines, archive: Self.forked, histories: Self.histories,
            now: Self.t0 + 4 * Self.day)
        // B2 (timeline 1) keeps 8–9 of timeline 1; B3 (timeline 2, from the switch segment) keeps
        // 12–13 of timeline 2, not timeline 1's copy of 12; the newest keeps 18 on, everywhere.
        #expect(plan.walRemovals == [Self.range(1, 1...7), Self.range(1, 10...15), Self.range(2, 14...17)])
    }

    @Test func withoutItsHistoryABackupsSegmentsStayOnEveryTimeline() {
        let plan = plan(
            RetentionRules(redundancy: 3, wal: .consistency), Self.acrossTimelines, archive: Self.forked, histories: [:],
            now: Self.t0 + 4 * Self.day)
        #expect(plan.walRemovals == [Self.range(1, 1...7), Self.range(1, 10...11), Self.range(1, 14...15), Self.range(2, 14...17)])
    }

    @Test func historyFilesAndPartialsAreNeverPlanned() {
        let entries: [WALArchiveEntry] = [
            .history(TimelineID(2)),
            .partial(WALSegmentName(timeline: TimelineID(1), segmentNumber: 5, segmentSize: Self.segmentSize), .zstd),
            .segment(WALSegmentName(timeline: TimelineID(1), segmentNumber: 4, segmentSize: Self.segmentSize), .zstd),
        ]
        let archive = WALContinuity(entries: entries, segmentSize: Self.segmentSize)
        let plan = plan(RetentionRules(redundancy: 1), [Self.backup(timeline: 2, start: 20, stop: 21, at: Self.t0)], archive: archive)
        #expect(plan.walRemovals == [Self.range(1, 4...4)])
    }
}
