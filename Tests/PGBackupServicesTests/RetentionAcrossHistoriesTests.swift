import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
@testable import PGBackupServices

/// Retention across the histories of a server (`init --upgrade`): the backups are decided over
/// all of them, each history's WAL by its own kept backups (`walRemovals(following:)`).
@Suite("Retention across histories")
struct RetentionAcrossHistoriesTests {
    typealias Fixture = RetentionPlannerTests
    static let day = Fixture.day
    static let t0 = Fixture.t0
    /// The old history: backups at segments 2–3 and 10–11, WAL 1–30; the new one (after the
    /// upgrade, its WAL names collide with the old ones): a backup at 5–6, WAL 4–12.
    static let oldBackups = [
        Fixture.backup(start: 2, stop: 3, at: t0), Fixture.backup(start: 10, stop: 11, at: t0 + day),
    ]
    static let newBackups = [Fixture.backup(start: 5, stop: 6, at: t0 + 2 * day)]
    static let oldArchive = Fixture.continuity([(1, 1...30)])
    static let newArchive = Fixture.continuity([(1, 4...12)])

    func planner(_ rules: RetentionRules, _ backups: [RetentionBackup], _ archive: WALContinuity) -> RetentionPlanner {
        RetentionPlanner(rules: rules, backups: backups, continuity: archive, histories: [:], now: Self.t0 + 3 * Self.day)
    }

    @Test func followingItsOwnPlanIsThePlan() {
        for rules in [RetentionRules(redundancy: 1), RetentionRules(redundancy: 2, wal: .consistency), RetentionRules(redundancy: 1, wal: .pitr)] {
            let own = planner(rules, Fixture.three, Fixture.archive)
            #expect(own.walRemovals(following: own.plan()) == own.plan().walRemovals)
        }
    }

    @Test func redundancyCountsBothHistoriesAndTheOldWALGoesWithItsBackups() {
        let rules = RetentionRules(redundancy: 1)
        let all = planner(rules, Self.oldBackups + Self.newBackups, Self.newArchive).plan()
        #expect(all.kept.map(\.id) == Self.newBackups.map(\.id))
        #expect(all.removed == Self.oldBackups.map(\.id))
        // The old history has no kept backup: all its WAL goes.
        #expect(planner(rules, Self.oldBackups, Self.oldArchive).walRemovals(following: all) == [Fixture.range(1, 1...30)])
        // The new one keeps its backup's WAL on (pitr), though the old segment names overlap.
        #expect(planner(rules, Self.newBackups, Self.newArchive).walRemovals(following: all) == [Fixture.range(1, 4...4)])
    }

    @Test func minimumRedundancyKeepsOldBackupsAndTheirWAL() {
        let rules = RetentionRules(redundancy: 1, minimumRedundancy: 2)
        let all = planner(rules, Self.oldBackups + Self.newBackups, Self.newArchive).plan()
        #expect(all.kept.map(\.id) == [Self.oldBackups[1].id, Self.newBackups[0].id])
        // The old history keeps the WAL from its kept backup's start on, as pitr asks.
        #expect(planner(rules, Self.oldBackups, Self.oldArchive).walRemovals(following: all) == [Fixture.range(1, 1...9)])
    }
}
