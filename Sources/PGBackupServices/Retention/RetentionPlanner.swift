import Foundation
import PGBackupFoundations
import PGBackupRepository

/// Decides what a retention run keeps and removes (DESIGN.md, "Retention policies"). Pure: the
/// backups, the WAL archive's continuity, its history files and `now` in, a `RetentionPlan` out;
/// no I/O, no clock, no globals. The executor applies the plan; `retention --dry-run` prints it.
///
/// Backups (ordered oldest first by stop time, then stop LSN, then id):
/// - A backup is kept when *any* rule keeps it; `Kept.reasons` lists every rule that does.
/// - No rules, or rules without a keep rule (`redundancy`, `recovery_window`, `keep_*`;
///   `minimum_redundancy` alone removes nothing): every backup stays (`noPolicy`, plus `pinned`
///   and `minimum` where those hold too) and no WAL is removed.
/// - `redundancy` N: the newest N.
/// - `recovery_window` W: every backup whose stop time is at or after `now − W`, plus the newest
///   one that stopped before it, so PITR to the window's start works.
/// - `keep_daily/weekly/monthly/yearly` N: backups grouped by UTC day, ISO-8601 week (Monday to
///   Sunday, UTC), calendar month and year of their stop time; the newest N groups that hold a
///   backup each keep their newest backup.
/// - A pinned backup (either kind) always stays (`pinned`).
/// - The newest `minimum_redundancy` backups always stay (`minimum`), and so does the newest
///   backup whatever the rules: a run never removes every backup. With no backups nothing goes.
///
/// WAL (`walRemovals`: completed segments held in `continuity`, per timeline, in runs, oldest
/// first; partial segments and `.history` files are never part of the plan). A segment stays when
/// any of these needs it:
/// - every kept backup's own WAL, start to stop, along its timeline's history (each segment from
///   the timeline recovery reads it from); when that history is not in `histories`, those
///   segment numbers stay on every timeline (the planner cannot tell which one recovery reads);
/// - a `full` pin: every segment, on every timeline, from the pinned backup's start segment on;
/// - `wal: pitr`: every segment, on every timeline, from the lowest start segment of the kept
///   backups that are not pinned standalone on. A standalone-pinned backup keeps only its own WAL
///   unless another rule keeps it too (then it anchors PITR like any kept backup);
/// - `wal: consistency`: besides each kept backup's own WAL, every segment from the newest
///   backup's start segment on, on every timeline. That tail is the WAL the daemon is writing:
///   keeping it lets PITR from the newest backup keep working and never deletes WAL as it lands.
///   (So with `consistency` a recovery window's moments before the newest backup are reachable
///   only at the kept backups' ends: that is what the setting asks for.)
public struct RetentionPlanner: Sendable {
    public let rules: RetentionRules?
    public let backups: [RetentionBackup]
    public let continuity: WALContinuity
    /// History of every timeline above 1 that the archive holds.
    public let histories: [TimelineID: TimelineHistory]
    public let now: Date

    public init(
        rules: RetentionRules?, backups: [RetentionBackup], continuity: WALContinuity,
        histories: [TimelineID: TimelineHistory], now: Date
    ) {
        self.rules = rules
        self.backups = backups
        self.continuity = continuity
        self.histories = histories
        self.now = now
    }

    public func plan() -> RetentionPlan {
        let ordered = backups.sorted(by: Self.older)
        guard !ordered.isEmpty else { return RetentionPlan(kept: [], removed: [], walRemovals: []) }
        let reasons = decide(ordered)
        var kept: [RetentionPlan.Kept] = []
        var removed: [BackupID] = []
        var keptBackups: [(backup: RetentionBackup, reasons: Set<RetentionReason>)] = []
        for (backup, why) in zip(ordered, reasons) {
            if why.isEmpty {
                removed.append(backup.id)
            } else {
                kept.append(RetentionPlan.Kept(id: backup.id, reasons: RetentionReason.allCases.filter(why.contains)))
                keptBackups.append((backup, why))
            }
        }
        var wal: [WALSegmentRange] = []
        if let rules, Self.hasKeepRule(rules) { wal = walRemovals(kept: keptBackups, rules: rules) }
        return RetentionPlan(kept: kept, removed: removed, walRemovals: wal)
    }

    /// The order of `kept` and `removed`: oldest first.
    static func older(_ lhs: RetentionBackup, _ rhs: RetentionBackup) -> Bool {
        (lhs.stopTime, lhs.stopLSN, lhs.id) < (rhs.stopTime, rhs.stopLSN, rhs.id)
    }

    /// Whether the rules say which backups to keep (`minimum_redundancy` alone is a floor, not a
    /// rule that removes anything).
    static func hasKeepRule(_ rules: RetentionRules) -> Bool {
        rules.redundancy != nil || rules.recoveryWindow != nil || rules.keepDaily != nil || rules.keepWeekly != nil
            || rules.keepMonthly != nil || rules.keepYearly != nil
    }

    /// The reasons each backup of `ordered` (oldest first) stays; empty: it goes.
    private func decide(_ ordered: [RetentionBackup]) -> [Set<RetentionReason>] {
        var reasons = Array(repeating: Set<RetentionReason>(), count: ordered.count)
        func keepNewest(_ count: Int, _ reason: RetentionReason) {
            for index in ordered.indices.suffix(max(0, count)) { reasons[index].insert(reason) }
        }
        if let rules, Self.hasKeepRule(rules) {
            if let redundancy = rules.redundancy { keepNewest(redundancy, .redundancy) }
            if let window = rules.recoveryWindow {
                let start = now.addingTimeInterval(-window)
                for index in ordered.indices where ordered[index].stopTime >= start { reasons[index].insert(.window) }
                if let before = ordered.lastIndex(where: { $0.stopTime < start }) { reasons[before].insert(.window) }
            }
            let levels: [(Int?, RetentionReason, RetentionPeriod)] = [
                (rules.keepDaily, .daily, .day), (rules.keepWeekly, .weekly, .isoWeek),
                (rules.keepMonthly, .monthly, .month), (rules.keepYearly, .yearly, .year),
            ]
            for case (let count?, let reason, let period) in levels {
                // Newest first: the first backup met in a period is its newest.
                var periods = Set<Int64>()
                for index in ordered.indices.reversed() {
                    let key = period.key(of: ordered[index].stopTime)
                    if periods.contains(key) { continue }
                    guard periods.count < count else { break }
                    periods.insert(key)
                    reasons[index].insert(reason)
                }
            }
        } else {
            for index in ordered.indices { reasons[index].insert(.noPolicy) }
        }
        for index in ordered.indices where ordered[index].pin != nil { reasons[index].insert(.pinned) }
        keepNewest(max(rules?.minimumRedundancy ?? 1, 1), .minimum)
        return reasons
    }
}
