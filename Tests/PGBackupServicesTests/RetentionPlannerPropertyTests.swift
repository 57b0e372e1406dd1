import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport
import PropertyBased
import Testing
@testable import PGBackupServices

/// The retention planner's promises, checked on random histories: 1–3 timelines with consistent
/// history files, an archive with holes, backups with increasing LSNs and times, random pins,
/// rules and `now`. Restorability is checked the way restore checks it: the segments
/// `WALContinuity.missingSegments(along:from:to:)` reports after the removals are exactly those
/// it reported before (retention never opens a new gap).
@Suite("Retention planning properties")
struct RetentionPlannerPropertyTests {
    static let segmentSize = try! WALSegmentSize(megabytes: 16)
    static let t0 = Date(timeIntervalSince1970: 1_790_000_000)

    /// One random history and the plan made for it.
    struct Scenario: CustomStringConvertible {
        var rules: RetentionRules?
        var backups: [RetentionBackup]
        var segments: [WALSegmentName]
        var histories: [TimelineID: TimelineHistory]
        var now: Date
        var before: WALContinuity { WALContinuity(entries: segments.map { .segment($0, .zstd) }, segmentSize: segmentSize) }

        var description: String {
            "rules: \(rules.map { "\($0)" } ?? "none"), now: \(now), backups: "
                + backups.map { "\($0.id) tl\($0.timeline) \($0.startLSN)…\($0.stopLSN) \($0.stopTime) \($0.pin.map(\.rawValue) ?? "-")" }
                .joined(separator: "; ")
        }

        func history(of timeline: TimelineID) -> TimelineHistory {
            histories[timeline] ?? TimelineHistory(timeline: timeline, entries: [])
        }

        /// The archive once `plan`'s removals are applied.
        func after(_ plan: RetentionPlan) -> WALContinuity {
            let removed = Set(plan.walRemovals.flatMap { range in
                (range.first.segmentNumber...range.last.segmentNumber).map { range.first.with(number: $0) }
            })
            return WALContinuity(entries: segments.filter { !removed.contains($0) }.map { .segment($0, .zstd) }, segmentSize: segmentSize)
        }

        static func random(seed: UInt64) -> Scenario {
            var rng = SeededGenerator(seed: seed)
            let size = RetentionPlannerPropertyTests.segmentSize
            func lsn(inSegment number: UInt64) -> LSN { LSN(number * size.bytes + UInt64.random(in: 0x28..<size.bytes, using: &rng)) }

            // Timelines: 1 from a random first segment; each later one forks from an earlier one.
            var begin: [TimelineID: LSN] = [TimelineID(1): LSN(UInt64.random(in: 1...4, using: &rng) * size.bytes)]
            var end: [TimelineID: UInt64] = [:]
            end[TimelineID(1)] = size.segmentNumber(containing: begin[TimelineID(1)]!) + UInt64.random(in: 0...40, using: &rng)
            var histories: [TimelineID: TimelineHistory] = [:]
            for number in 2..<UInt32(2 + Int.random(in: 0...2, using: &rng)) {
                let timeline = TimelineID(number)
                let parent = TimelineID(UInt32.random(in: 1..<number, using: &rng))
                let parentFirst = size.segmentNumber(containing: begin[parent]!)
                let switchpoint = max(lsn(inSegment: UInt64.random(in: parentFirst...end[parent]!, using: &rng)), begin[parent]!)
                let ancestors = histories[parent]?.entries ?? []
                histories[timeline] = TimelineHistory(timeline: timeline, entries: ancestors + [.init(timeline: parent, switchpoint: switchpoint)])
                begin[timeline] = switchpoint
                end[timeline] = size.segmentNumber(containing: switchpoint) + UInt64.random(in: 0...30, using: &rng)
            }

            // The archive: every timeline's segments from its begin to its end, with a few holes.
            var segments: [WALSegmentName] = []
            for (timeline, first) in begin {
                for number in size.segmentNumber(containing: first)...end[timeline]! where Int.random(in: 0..<100, using: &rng) >= 4 {
                    segments.append(WALSegmentName(timeline: timeline, segmentNumber: number, segmentSize: size))
                }
            }

            // Backups: times follow the LSN (1 hour to 10 days a segment, plus jitter), so GFS
            // periods from days to years come up.
            let secondsPerSegment = Double(Int.random(in: 1...240, using: &rng)) * 3600
            var backups: [RetentionBackup] = []
            var ids = Set<BackupID>()
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                let timeline = begin.keys.randomElement(using: &rng)!
                let first = size.segmentNumber(containing: begin[timeline]!)
                let startSegment = UInt64.random(in: first...end[timeline]!, using: &rng)
                let stopSegment = min(startSegment + UInt64.random(in: 0...2, using: &rng), end[timeline]! + 1)
                let startLSN = max(lsn(inSegment: startSegment), begin[timeline]!)
                let stopLSN = max(lsn(inSegment: stopSegment), startLSN + 0x100)
                let stopTime = t0.addingTimeInterval(
                    (Double(stopSegment) + Double(stopLSN.rawValue % size.bytes) / Double(size.bytes)) * secondsPerSegment
                        + Double(Int.random(in: 0...600, using: &rng)))
                let id = BackupID(date: stopTime.addingTimeInterval(-60))
                guard ids.insert(id).inserted else { continue }
                let pin: RetentionPin? = switch Int.random(in: 0..<10, using: &rng) {
                case 0, 1: .standalone
                case 2: .full
                default: nil
                }
                backups.append(RetentionBackup(id: id, timeline: timeline, startLSN: startLSN, stopLSN: stopLSN, stopTime: stopTime, pin: pin))
            }
            backups.shuffle(using: &rng)

            func maybe<T>(_ value: @autoclosure () -> T) -> T? { Bool.random(using: &rng) ? value() : nil }
            var rules: RetentionRules?
            if Int.random(in: 0..<8, using: &rng) > 0 {
                rules = RetentionRules(
                    redundancy: maybe(Int.random(in: 0...5, using: &rng)),
                    recoveryWindow: maybe(Double(Int.random(in: 0...(40 * 24), using: &rng)) * 3600),
                    keepDaily: maybe(Int.random(in: 0...5, using: &rng)), keepWeekly: maybe(Int.random(in: 0...4, using: &rng)),
                    keepMonthly: maybe(Int.random(in: 0...3, using: &rng)), keepYearly: maybe(Int.random(in: 0...2, using: &rng)),
                    minimumRedundancy: maybe(Int.random(in: 1...4, using: &rng)),
                    wal: Bool.random(using: &rng) ? .pitr : .consistency)
            }
            let latest = backups.map(\.stopTime).max() ?? t0
            let now = latest.addingTimeInterval(Double(Int.random(in: -48...(60 * 24), using: &rng)) * 3600)
            return Scenario(rules: rules, backups: backups, segments: segments, histories: histories, now: now)
        }
    }

    @Test func everyPromiseHoldsOnRandomHistories() async {
        await propertyCheck(count: 400, input: Gen.uint64()) { (seed: UInt64) in
            let scenario = Scenario.random(seed: seed)
            let before = scenario.before
            let plan = RetentionPlanner(
                rules: scenario.rules, backups: scenario.backups, continuity: before, histories: scenario.histories, now: scenario.now
            ).plan()
            let after = scenario.after(plan)
            let ordered = scenario.backups.sorted { ($0.stopTime, $0.stopLSN, $0.id) < ($1.stopTime, $1.stopLSN, $1.id) }
            let keptIDs = Set(plan.kept.map(\.id))
            let context = Comment(rawValue: "seed \(seed): \(scenario)")

            // (1) kept ∪ removed = all backups, disjoint, both oldest first; reasons in order.
            #expect(keptIDs.count == plan.kept.count && keptIDs.isDisjoint(with: plan.removed), context)
            #expect(keptIDs.union(plan.removed) == Set(scenario.backups.map(\.id)), context)
            #expect(plan.kept.map(\.id) == ordered.map(\.id).filter(keptIDs.contains), context)
            #expect(plan.removed == ordered.map(\.id).filter { !keptIDs.contains($0) }, context)
            #expect(plan.kept.allSatisfy { !$0.reasons.isEmpty && $0.reasons == RetentionReason.allCases.filter($0.reasons.contains) }, context)

            // (2) every kept backup stays restorable to its end: no new gap in its own WAL.
            for backup in ordered where keptIDs.contains(backup.id) {
                let history = scenario.history(of: backup.timeline)
                #expect(after.missingSegments(along: history, from: backup.startLSN, to: backup.stopLSN)
                    == before.missingSegments(along: history, from: backup.startLSN, to: backup.stopLSN), context)
            }

            // (3) pitr: every moment from the oldest kept backup not pinned standalone to the
            // archive's end stays reachable, on every timeline recovery can follow from it;
            // consistency: the same from the newest backup (the live tail).
            if let rules = scenario.rules {
                let anchor = rules.wal == .pitr
                    ? ordered.first { keptIDs.contains($0.id) && $0.pin != .standalone }
                    : ordered.last
                if let anchor {
                    // Nothing from its start segment on goes, on any timeline …
                    let startSegment = Self.segmentSize.segmentNumber(containing: anchor.startLSN)
                    #expect(plan.walRemovals.allSatisfy { $0.last.segmentNumber < startSegment }, context)
                    // … so recovery along every timeline that follows it finds what it found before.
                    for timeline in before.timelines.map(\.timeline) {
                        let history = scenario.history(of: timeline)
                        guard history.contains(anchor.timeline), (history.switchpoint(of: anchor.timeline) ?? anchor.stopLSN) >= anchor.stopLSN,
                              let end = before.endOfArchive(timeline: timeline) else { continue }
                        #expect(after.missingSegments(along: history, from: anchor.startLSN, to: end)
                            == before.missingSegments(along: history, from: anchor.startLSN, to: end), context)
                    }
                }
            }

            // (4) minimum redundancy holds and the newest backup stays; (5) pinned backups stay.
            let minimum = min(scenario.rules?.minimumRedundancy ?? 1, ordered.count)
            #expect(plan.kept.count >= minimum, context)
            #expect(Set(ordered.suffix(minimum).map(\.id)).isSubset(of: keptIDs), context)
            if let newest = ordered.last { #expect(keptIDs.contains(newest.id), context) }
            for backup in ordered where backup.pin != nil {
                #expect(plan.kept.first { $0.id == backup.id }?.reasons.contains(.pinned) == true, context)
            }

            // (6) removals name only segments the archive holds, per timeline, oldest first, no overlaps.
            for range in plan.walRemovals {
                #expect(before.timeline(range.timeline)?.ranges.contains { $0.first <= range.first && range.last <= $0.last } == true, context)
            }
            for (earlier, later) in zip(plan.walRemovals, plan.walRemovals.dropFirst()) {
                #expect(earlier.timeline < later.timeline || (earlier.timeline == later.timeline && earlier.last.segmentNumber < later.first.segmentNumber), context)
            }
            // No policy (no keep rule), or no backups: nothing is removed.
            if scenario.rules.map(RetentionPlanner.hasKeepRule) != true || ordered.isEmpty {
                #expect(plan.removed.isEmpty && plan.walRemovals.isEmpty, context)
            }
        }
    }

    /// The ISO week arithmetic agrees with Foundation's ISO-8601 calendar.
    @Test func isoWeeksAgreeWithTheISO8601Calendar() async {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let iso = calendar
        await propertyCheck(count: 300, input: Gen.int(in: 0...(200 * 366 * 86_400)), Gen.int(in: 0...(20 * 86_400))) { (offset: Int, step: Int) in
            let first = Date(timeIntervalSince1970: Double(offset))
            let second = first.addingTimeInterval(Double(step))
            func week(_ date: Date) -> [Int] {
                let parts = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
                return [parts.yearForWeekOfYear!, parts.weekOfYear!]
            }
            let sameWeek = week(first) == week(second)
            #expect((RetentionPeriod.isoWeek.key(of: first) == RetentionPeriod.isoWeek.key(of: second)) == sameWeek, "\(first) \(second)")
            #expect(RetentionPeriod.isoWeek.key(of: first) <= RetentionPeriod.isoWeek.key(of: second))
        }
    }
}

private extension WALSegmentName {
    func with(number: UInt64) -> WALSegmentName { WALSegmentName(timeline: timeline, segmentNumber: number, segmentSize: segmentSize) }
}
