import Foundation
import PGBackupFoundations
import PGBackupRepository

/// What a restore will do, decided before anything is written.
public struct RestoreSelection: Sendable, Hashable {
    /// The backup to restore.
    public var backup: BackupSummary
    /// The timeline recovery follows, and its history (a timeline without history: itself only).
    public var timeline: TimelineID
    /// Where the archive's WAL ends on that path: recovery can replay up to here.
    public var endOfArchive: LSN
    /// The WAL segments recovery needs from the archive, as a description (first…last).
    public var walNeeded: String
}

/// Chooses the backup and validates the WAL for a restore target. Pure: the service feeds it the
/// catalog, the archive's continuity and its history files.
///
/// Rules:
/// - A backup is usable for a target only from its stop LSN on (its consistency point), and only
///   if its timeline lies on the path to the target timeline at its stop LSN.
/// - `--backup-id` picks the backup; otherwise the newest usable one that ended before the target
///   (time: `stopTime ≤ T`; LSN: `stopLSN ≤ L`; latest and immediate: the newest). A transaction
///   id or restore point cannot be placed in time before replay, so those start from the oldest
///   usable backup, which reaches any later point (give `--backup-id` to start later).
/// - The archive must hold every segment from the backup's start to the target (LSN, the backup's
///   end for immediate, else the end of the archive on the target timeline), along the timeline
///   path; a gap is refused with its segments named.
/// - A time after the last recorded server time of the archive's end on the target timeline, or
///   an LSN beyond that end, is refused: recovery would end before the target (PostgreSQL then
///   fails). Times are the server's own (`WALTimeMark`); when the newest WAL carries none (stored
///   by `wal-push`), a time target is not checked against it: recovery finds out.
public struct RestorePlanner: Sendable {
    public var backups: [BackupSummary]
    public var continuity: WALContinuity
    /// History of every timeline above 1 that the archive holds.
    public var histories: [TimelineID: TimelineHistory]
    /// Per timeline, the last recorded server time of its archive's end (`WALArchive.survey`):
    /// no commit the archive holds there is later.
    public var serverTimes: [TimelineID: Date]
    public var server: String
    /// The gaps the daemon recorded (`WALGap`): a target inside one is refused, naming it.
    public var recordedGaps: [WALGap] = []
    /// Per timeline, the end of the WAL in the partial copy of the segment right after its last
    /// completed one (the daemon's tail, served zero-padded): recovery replays it too.
    public var partialEnds: [TimelineID: LSN] = [:]

    public init(
        backups: [BackupSummary], continuity: WALContinuity, histories: [TimelineID: TimelineHistory], serverTimes: [TimelineID: Date],
        server: String
    ) {
        self.backups = backups
        self.continuity = continuity
        self.histories = histories
        self.serverTimes = serverTimes
        self.server = server
    }

    public func plan(target: RestoreTarget, timeline requested: RestoreTimeline, backupID: BackupID?) throws(RestoreRefusal) -> RestoreSelection {
        guard !backups.isEmpty else { throw .noBackups(server: server) }
        try refuseTargetInsideARecordedGap(target)
        var candidates = backups
        if let backupID {
            candidates = backups.filter { $0.id == backupID }
            guard !candidates.isEmpty else {
                throw .unreachableTarget("no complete backup '\(backupID)' of server '\(server)'\nHINT: `pgbackup list` shows the backups")
            }
        }
        // The target timeline, per backup (latest/current depend on the backup's timeline).
        func path(for backup: BackupSummary) -> TimelineHistory? {
            let target: TimelineID
            switch requested {
            case .current: target = backup.timeline
            case .number(let number): target = number
            case .latest:
                target = continuity.timelines.map(\.timeline).filter { candidate in
                    timelineHistory(of: candidate).map { usable(backup, on: $0) } ?? false
                }.max() ?? backup.timeline
            }
            guard let history = timelineHistory(of: target), usable(backup, on: history) else { return nil }
            return history
        }
        let usableBackups = candidates.compactMap { backup in path(for: backup).map { (backup, $0) } }
        guard !usableBackups.isEmpty else {
            throw .unreachableTarget("no backup\(backupID.map { " '\($0)'" } ?? "") of server '\(server)' lies on timeline \(requested)'s history\nHINT: `pgbackup list` shows each backup's timeline; --target-timeline chooses another")
        }

        let chosen: (BackupSummary, TimelineHistory)
        switch target {
        case .time(let time):
            guard let match = usableBackups.last(where: { $0.0.stopTime <= time }) else {
                let first = usableBackups[0].0
                throw .unreachableTarget("target \(RestoreTime.format(time)) is before the earliest restorable point \(RestoreTime.format(first.stopTime)) (end of backup \(first.id))")
            }
            chosen = match
        case .lsn(let lsn):
            guard let match = usableBackups.last(where: { $0.0.stopLSN <= lsn }) else {
                let first = usableBackups[0].0
                throw .unreachableTarget("target LSN \(lsn) is before the earliest restorable point \(first.stopLSN) (end of backup \(first.id))")
            }
            chosen = match
        case .latest, .immediate:
            chosen = usableBackups.last!
        case .xid, .name:
            chosen = backupID == nil ? usableBackups.first! : usableBackups.last!
        }
        let (backup, history) = chosen

        // The WAL from the backup's start to the target, along the path.
        let completedEnd = continuity.endOfArchive(timeline: history.timeline) ?? LSN.zero
        let end = max(completedEnd, partialEnds[history.timeline] ?? LSN.zero)
        let needEnd: LSN
        switch target {
        case .immediate: needEnd = backup.stopLSN
        case .lsn(let lsn):
            guard lsn <= max(end, backup.stopLSN) else {
                throw .unreachableTarget("target LSN \(lsn) is beyond the end of the archived WAL (\(end) on timeline \(history.timeline.rawValue))\nHINT: restore without a target to reach the end of the archive")
            }
            needEnd = lsn
        default:
            needEnd = max(end, backup.stopLSN)
        }
        if case .time(let time) = target, let last = serverTimes[history.timeline], time > last {
            throw .unreachableTarget("target \(RestoreTime.format(time)) is after the last recorded server time \(RestoreTime.format(last)) (the end of the archived WAL on timeline \(history.timeline.rawValue))\nHINT: restore without a target to reach the end of the archive, or give a time up to \(RestoreTime.format(last))")
        }
        // WAL past the last completed segment, up to `end`, is in that segment's partial copy.
        let missing = continuity.missingSegments(
            along: history, from: backup.startLSN, to: needEnd > completedEnd && needEnd <= end ? completedEnd : needEnd)
        if let gap = missing.first {
            let list = missing.prefix(5).map(\.description).joined(separator: ", ") + recordedGapNote(for: missing)
            let targetIsAPosition = switch target {
            case .lsn, .immediate: true
            default: false
            }
            if gap.startLSN < backup.stopLSN || targetIsAPosition {
                throw .missingWAL("the repository lacks WAL that backup \(backup.id) needs up to \(needEnd): \(list)\nHINT: this backup cannot be restored to that target; choose another with --backup-id, or a target before the gap")
            }
            throw .missingWAL("the archived WAL after backup \(backup.id) has a gap (\(list)): recovery cannot pass it\nHINT: restore to a point before it with --target-lsn \(gap.startLSN), or from a backup taken after it")
        }
        let segments = history.segments(from: backup.startLSN, to: max(needEnd, backup.startLSN + 1), segmentSize: continuity.segmentSize)
        let walNeeded = segments.first.map { first in first == segments.last! ? first.name : "\(first.name)…\(segments.last!.name)" } ?? "none"
        return RestoreSelection(backup: backup, timeline: history.timeline, endOfArchive: needEnd, walNeeded: walNeeded)
    }

    /// The history of `timeline`: its file's, or timeline 1's (no file).
    private func timelineHistory(of timeline: TimelineID) -> TimelineHistory? {
        if timeline == TimelineID(1) { return TimelineHistory(timeline: timeline, entries: []) }
        return histories[timeline]
    }

    /// Whether recovery along `history` can start from `backup`: the backup's timeline is on the
    /// path and had not switched away before the backup became consistent.
    private func usable(_ backup: BackupSummary, on history: TimelineHistory) -> Bool {
        guard history.contains(backup.timeline) else { return false }
        if let switchpoint = history.switchpoint(of: backup.timeline) { return switchpoint >= backup.stopLSN }
        return true
    }
}
