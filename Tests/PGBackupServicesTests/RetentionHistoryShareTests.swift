import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// `RetentionHistoryShare` (pure: a retention plan and one history in, that history's removed
/// backups, WAL removals and partial floor out) and the reported sweep outcome.
@Suite("Retention: one history's share")
struct RetentionHistoryShareTests {
    typealias Fixture = RetentionAcrossHistoriesTests
    static let now = Fixture.t0 + 3 * Fixture.day

    static func share(_ plan: RetentionPlan, old: Bool, current: Bool, rules: RetentionRules?) -> RetentionHistoryShare {
        RetentionHistoryShare(
            plan, backups: old ? Fixture.oldBackups : Fixture.newBackups, continuity: old ? Fixture.oldArchive : Fixture.newArchive,
            histories: [:], isCurrent: current, rules: rules, now: now)
    }

    @Test func anOlderHistoryLeftWithoutABackupLosesAllItsWALAndPartials() {
        let rules = RetentionRules(redundancy: 1)
        let plan = RetentionPlanner(
            rules: rules, backups: Fixture.oldBackups + Fixture.newBackups, continuity: Fixture.newArchive, histories: [:], now: Self.now).plan()
        let old = Self.share(plan, old: true, current: false, rules: rules)
        #expect(old.removed == Fixture.oldBackups.map(\.id))
        #expect(old.walRemovals == [RetentionPlannerTests.range(1, 1...30)])
        #expect(old.oldestKeptStart == LSN(UInt64.max))

        let new = Self.share(plan, old: false, current: true, rules: rules)
        #expect(new.removed.isEmpty)
        #expect(new.oldestKeptStart == Fixture.newBackups[0].startLSN)
        #expect(new.walRemovals == RetentionPlanner(
            rules: rules, backups: Fixture.newBackups, continuity: Fixture.newArchive, histories: [:], now: Self.now).walRemovals(following: plan))
    }

    @Test func theCurrentHistoryWithoutAKeptBackupKeepsItsWAL() {
        // Everything kept lives in the old history (say, the new one has no backup yet).
        let rules = RetentionRules(redundancy: 2)
        let plan = RetentionPlanner(rules: rules, backups: Fixture.oldBackups, continuity: Fixture.oldArchive, histories: [:], now: Self.now).plan()
        let current = Self.share(plan, old: false, current: true, rules: rules)
        #expect(current.removed.isEmpty && current.walRemovals.isEmpty && current.oldestKeptStart == nil)
        // The same history as an older one gives up its WAL, and its partials by the keep rule.
        let older = Self.share(plan, old: false, current: false, rules: rules)
        #expect(!older.walRemovals.isEmpty && older.oldestKeptStart == LSN(UInt64.max))
        // Without a keep rule nothing is removed, partials included.
        let floorOnly = Self.share(plan, old: false, current: false, rules: RetentionRules(minimumRedundancy: 1))
        #expect(floorOnly.walRemovals.isEmpty && floorOnly.oldestKeptStart == nil)
    }

    @Test func theReportedSweepIsTheFirstThatDidNotRunCleanElseTheCurrentHistorys() {
        #expect(RetentionHistoryShare.sweepOutcome(["done", "deferred: backup pid 7 on h is running", "stopped: lost"]) == "deferred: backup pid 7 on h is running")
        #expect(RetentionHistoryShare.sweepOutcome(["dry-run", "done"]) == "done")
        #expect(RetentionHistoryShare.sweepOutcome(["done", "dry-run"]) == "dry-run")
    }
}
