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
        for backup in backups {
            guard let history = history(of: backup.timeline) else {
                problems.append("backup \(backup.id): the history of timeline \(backup.timeline) is not archived")
                continue
            }
            let missing = continuity.missingSegments(along: history, from: backup.startLSN, to: max(backup.stopLSN, backup.startLSN + 1))
            if !missing.isEmpty { problems.append("backup \(backup.id) lacks its own WAL \(Self.describe(missing))") }
        }
        var span = "each backup's own WAL"
        if let floor, let latest = continuity.latestTimeline, let end = continuity.endOfArchive(timeline: latest) ?? lastEnd() {
            span = "from \(floor) to the archive's end \(end) (timeline \(latest))"
            if let history = history(of: latest) {
                let missing = continuity.missingSegments(along: history, from: floor, to: end)
                if !missing.isEmpty { problems.append("missing \(Self.describe(missing))") }
            } else {
                problems.append("the history of timeline \(latest) is not archived")
            }
        }
        for gap in gaps where gap.endLSN > oldest.startLSN {
            problems.append("recorded gap \(gap.firstSegment)…\(gap.lastSegment) (\(gap.reason))")
        }
        if problems.isEmpty {
            return CheckResult(name: "continuity", ok: true, detail: "WAL continuous for \(backups.count) backup\(backups.count == 1 ? "" : "s"), \(span)")
        }
        return CheckResult(name: "continuity", ok: false, detail: problems.joined(separator: "; ")
            + "; HINT: point-in-time recovery cannot cross missing WAL: take a new backup (`pgbackup backup`) and run `pgbackup verify`")
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
