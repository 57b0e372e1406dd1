import Foundation
import PGBackupFoundations
import PGBackupRepository

/// One history's share of a retention plan (`init --upgrade` leaves several; the rules count
/// backups across all of them). Pure.
///
/// - `removed`: the plan's removed backups that belong to this history.
/// - `walRemovals`: the WAL this history's kept backups no longer need, by `RetentionPlanner`'s
///   rules on this history's own backups and archive; none in the current history while it has
///   no kept backup (it is what the daemon is writing, and what the first backup after
///   `init --upgrade` will need).
/// - `oldestKeptStart`: the start of this history's oldest kept backup, before which partial
///   segments are stale; in an older history left without a kept backup under a keep rule, past
///   every LSN (all its partials go too).
struct RetentionHistoryShare: Sendable, Hashable {
    var removed: [BackupID]
    var walRemovals: [WALSegmentRange]
    var oldestKeptStart: LSN?

    init(
        _ plan: RetentionPlan, backups: [RetentionBackup], continuity: WALContinuity, histories: [TimelineID: TimelineHistory],
        isCurrent: Bool, rules: RetentionRules?, now: Date
    ) {
        let own = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        removed = plan.removed.filter { own[$0] != nil }
        let keptHere = plan.kept.contains { own[$0.id] != nil }
        walRemovals = isCurrent && !keptHere ? [] : RetentionPlanner(
            rules: rules, backups: backups, continuity: continuity, histories: histories, now: now
        ).walRemovals(following: plan)
        oldestKeptStart = plan.kept.compactMap { own[$0.id]?.startLSN }.min()
        if oldestKeptStart == nil, !isCurrent, let rules, RetentionPlanner.hasKeepRule(rules) {
            oldestKeptStart = LSN(UInt64.max)
        }
    }

    /// The outcome a run reports for its chunk sweeps, one per history (`done`, `dry-run`,
    /// `deferred: …`, `stopped: …`): the first that is neither done nor a dry run, else the
    /// current history's.
    static func sweepOutcome(_ sweeps: [String]) -> String {
        sweeps.first { $0 != "done" && $0 != "dry-run" } ?? sweeps[sweeps.count - 1]
    }
}
