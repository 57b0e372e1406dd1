import PGBackupFoundations
import PGBackupRepository

extension RetentionPlanner {
    /// This planner's WAL removals when the backups were decided by `plan`, made over more
    /// backups than this planner's (every history of the server, `init --upgrade`): the WAL
    /// rules applied to this planner's backups that `plan` keeps. No kept backup here: every
    /// completed segment goes. Equal to `plan().walRemovals` when `plan` is this planner's own.
    public func walRemovals(following plan: RetentionPlan) -> [WALSegmentRange] {
        guard let rules, Self.hasKeepRule(rules) else { return [] }
        let own = Dictionary(uniqueKeysWithValues: backups.map { ($0.id, $0) })
        let kept = plan.kept.compactMap { entry in own[entry.id].map { (backup: $0, reasons: Set(entry.reasons)) } }
            .sorted { Self.older($0.backup, $1.backup) }
        return walRemovals(kept: kept, rules: rules)
    }

    /// The completed segments of `continuity` that no kept backup, pin or WAL rule needs, per
    /// timeline in runs, oldest first (the WAL rules of the type's doc comment).
    func walRemovals(kept: [(backup: RetentionBackup, reasons: Set<RetentionReason>)], rules: RetentionRules) -> [WALSegmentRange] {
        let segmentSize = continuity.segmentSize
        func startSegment(_ backup: RetentionBackup) -> UInt64 { segmentSize.segmentNumber(containing: backup.startLSN) }

        // From `floor` on, every timeline's segments stay.
        var floors: [UInt64] = kept.filter { $0.backup.pin == .full }.map { startSegment($0.backup) }
        switch rules.wal {
        case .pitr:
            let anchors = kept.filter { $0.backup.pin != .standalone || $0.reasons != [.pinned] }
            floors += anchors.map { startSegment($0.backup) }
        case .consistency:
            if let newest = kept.last { floors.append(startSegment(newest.backup)) }
        }
        let floor = floors.min() ?? UInt64.max

        // Each kept backup's own WAL, on the timelines recovery reads it from.
        var needed: [TimelineID: [ClosedRange<UInt64>]] = [:]
        for (backup, _) in kept {
            let end = max(backup.stopLSN, backup.startLSN + 1)
            if let history = history(of: backup.timeline) {
                for segment in history.segments(from: backup.startLSN, to: end, segmentSize: segmentSize) {
                    needed[segment.timeline, default: []].append(segment.segmentNumber...segment.segmentNumber)
                }
            } else {
                let numbers = startSegment(backup)...segmentSize.segmentNumber(containing: end - 1)
                for timeline in continuity.timelines { needed[timeline.timeline, default: []].append(numbers) }
            }
        }

        var removals: [WALSegmentRange] = []
        for timeline in continuity.timelines {
            let keep = Self.merged(needed[timeline.timeline] ?? [])
            for range in timeline.ranges where range.first.segmentNumber < floor {
                let candidate = range.first.segmentNumber...min(range.last.segmentNumber, floor - 1)
                for run in Self.subtract(keep, from: candidate) {
                    removals.append(WALSegmentRange(
                        first: WALSegmentName(timeline: timeline.timeline, segmentNumber: run.lowerBound, segmentSize: segmentSize),
                        last: WALSegmentName(timeline: timeline.timeline, segmentNumber: run.upperBound, segmentSize: segmentSize)))
                }
            }
        }
        return removals
    }

    /// The history of `timeline`: its file's, timeline 1's (none needed), or nil when unknown.
    private func history(of timeline: TimelineID) -> TimelineHistory? {
        if let history = histories[timeline] { return history }
        return timeline == TimelineID(1) ? TimelineHistory(timeline: timeline, entries: []) : nil
    }

    /// `intervals` sorted, with overlapping and touching ones joined.
    static func merged(_ intervals: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] {
        var result: [ClosedRange<UInt64>] = []
        // Segment numbers stay far below UInt64.max (the WAL address space divided by the segment size).
        for interval in intervals.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, interval.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, interval.upperBound)
            } else {
                result.append(interval)
            }
        }
        return result
    }

    /// What of `interval` none of `holes` (sorted, disjoint) covers, in runs, lowest first.
    static func subtract(_ holes: [ClosedRange<UInt64>], from interval: ClosedRange<UInt64>) -> [ClosedRange<UInt64>] {
        var result: [ClosedRange<UInt64>] = []
        var next = interval.lowerBound
        for hole in holes where hole.upperBound >= next && hole.lowerBound <= interval.upperBound {
            if hole.lowerBound > next { result.append(next...(hole.lowerBound - 1)) }
            if hole.upperBound >= interval.upperBound { return result }
            next = hole.upperBound + 1
        }
        result.append(next...interval.upperBound)
        return result
    }
}
