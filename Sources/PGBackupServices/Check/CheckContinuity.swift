import PGBackupFoundations
import PGBackupRepository

/// `check`'s `continuity`: the WAL the repository's backups need is archived, along the timeline
/// history, and no recorded gap (`WALArchive.gaps()`) lies after the oldest backup's start.
///
/// Retention removes WAL on purpose, and those holes are not damage (RetentionPlanner+WAL):
/// - a backup pinned `--standalone` needs only its own WAL (start to stop);
/// - under `wal: pitr` (or no policy) every WAL from the oldest backup that is not
///   standalone-pinned to the archive's end must be there;
/// - under `wal: consistency` each backup's own WAL, and from the newest backup (or a backup
///   pinned in full, whichever is older) to the archive's end.
public struct CheckContinuity: Sendable {
    public struct Backup: Sendable, Hashable {
        public var id: String
        public var timeline: TimelineID
        public var startLSN: LSN
        public var stopLSN: LSN
        public var pin: BackupManifest.PinKind?
        public init(id: String, timeline: TimelineID, startLSN: LSN, stopLSN: LSN, pin: BackupManifest.PinKind?) {
            self.id = id
            self.timeline = timeline
            self.startLSN = startLSN
            self.stopLSN = stopLSN
            self.pin = pin
        }
    }

    /// Oldest first.
    public var backups: [Backup]
    public var wal: RetentionRules.WALRetention
    public var continuity: WALContinuity
    public var histories: [TimelineID: TimelineHistory]
    public var gaps: [WALGap]

    public init(backups: [Backup], wal: RetentionRules.WALRetention, continuity: WALContinuity, histories: [TimelineID: TimelineHistory], gaps: [WALGap]) {
        self.backups = backups.sorted { $0.startLSN < $1.startLSN }
        self.wal = wal
        self.continuity = continuity
        self.histories = histories
        self.gaps = gaps
    }

    /// The LSN from which every WAL up to the archive's end must be archived; nil when only
    /// backups' own WAL is needed.
    public var floor: LSN? {
        var floors = backups.filter { $0.pin == .full }.map(\.startLSN)
        switch wal {
        case .pitr: floors += backups.filter { $0.pin != .standalone }.map(\.startLSN)
        case .consistency: if let newest = backups.last { floors.append(newest.startLSN) }
        }
        return floors.min()
    }

    public func result() -> CheckResult {
        guard let oldest = backups.first else {
            return CheckResult(name: "continuity", ok: true, detail: "no backup yet: no WAL to check")
        }
        var problems: [String] = []
        // Whether something is wrong besides recorded gaps that a backup after them makes whole
        // again (a restore from that backup on needs none of the missing WAL).
        var unexplained = false
        func remedied(_ missing: [WALSegmentRange]) -> Bool {
            missing.allSatisfy { range in
                gaps.contains { gap in
                    backup(after: gap) != nil && gap.startLSN <= range.first.startLSN && range.last.endLSN <= gap.endLSN
                }
            }
        }
        for backup in backups {
            guard let history = history(of: backup.timeline) else {
                unexplained = true
                problems.append("backup \(backup.id): the history of timeline \(backup.timeline) is not archived")
                continue
            }
            let missing = continuity.missingSegments(along: history, from: backup.startLSN, to: max(backup.stopLSN, backup.startLSN + 1))
            if !missing.isEmpty {
                unexplained = true
                problems.append("backup \(backup.id) lacks its own WAL \(Self.describe(missing))")
            }
        }
        var span = "each backup's own WAL"
        if let floor, let latest = continuity.latestTimeline, let end = continuity.endOfArchive(timeline: latest) ?? lastEnd() {
            span = "from \(floor) to the archive's end \(end) (timeline \(latest))"
            if let history = history(of: latest) {
                let missing = continuity.missingSegments(along: history, from: floor, to: end)
                if !missing.isEmpty {
                    unexplained = unexplained || !remedied(missing)
                    problems.append("missing \(Self.describe(missing))")
                }
            } else {
                unexplained = true
                problems.append("the history of timeline \(latest) is not archived")
            }
        }
        let crossing = gaps.filter { $0.endLSN > oldest.startLSN }
        for gap in crossing {
            problems.append(Self.describe(gap, backupAfter: backup(after: gap)))
        }
        if problems.isEmpty {
            return CheckResult(name: "continuity", ok: true, detail: "WAL continuous for \(backups.count) backup\(backups.count == 1 ? "" : "s"), \(span)")
        }
        let onlyGapsWithBackupsAfter = !unexplained && crossing.allSatisfy { backup(after: $0) != nil }
        var hint = onlyGapsWithBackupsAfter
            ? "HINT: point-in-time recovery cannot cross a gap; the backups after it restore whole. The gap is reported while a backup before it is kept (retention removes them)"
            : "HINT: point-in-time recovery cannot cross missing WAL: take a new backup (`pgbackup backup`) and run `pgbackup verify`"
        if crossing.contains(where: { $0.slotInvalidation != nil }) {
            hint += "; against another slot invalidation, keep `pgbackup daemon` running, or raise idle_replication_slot_timeout / max_slot_wal_keep_size on the server"
        }
        return CheckResult(name: "continuity", ok: false, detail: problems.joined(separator: "; ") + "; " + hint)
    }

    /// The oldest backup that starts after `gap` (a restorable point past it), if any.
    func backup(after gap: WALGap) -> Backup? {
        backups.first { $0.startLSN >= gap.endLSN }
    }

    /// `recorded gap A…B (0/5000000 to 0/B000000, recorded <time>: <reason>); backup X after it`
    static func describe(_ gap: WALGap, backupAfter: Backup?) -> String {
        let slot = gap.slotInvalidation.map { record in gap.reason.contains(record.description) ? "" : "\(record); " } ?? ""
        let after = backupAfter.map { "backup \($0.id) after it (starts at \($0.startLSN))" } ?? "no backup after it yet"
        return "recorded gap \(gap.firstSegment)…\(gap.lastSegment) (\(gap.startLSN) to \(gap.endLSN), recorded \(CheckRules.timestamp(gap.detectedAt)): \(slot)\(gap.reason)); \(after)"
    }

    /// The end of the newest timeline that has completed segments (its history file may come first).
    private func lastEnd() -> LSN? {
        continuity.timelines.compactMap(\.endOfArchive).max()
    }

    private func history(of timeline: TimelineID) -> TimelineHistory? {
        if let history = histories[timeline] { return history }
        return timeline == TimelineID(1) ? TimelineHistory(timeline: timeline, entries: []) : nil
    }

    static func describe(_ ranges: [WALSegmentRange]) -> String {
        let shown = ranges.prefix(3).map { $0.first == $0.last ? $0.first.name : "\($0.first.name)…\($0.last.name)" }
        return shown.joined(separator: ", ") + (ranges.count > 3 ? " and \(ranges.count - 3) more runs" : "")
    }
}
