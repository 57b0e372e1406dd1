import Foundation
import PGBackupServices

/// What happens at a job's slot.
public enum SlotDecision: String, Sendable, Equatable {
    /// The job starts.
    case start
    /// The job's previous run is still going: this slot is skipped (and counted).
    case skip
}

/// The schedule of each job kind and its next slot: pure, driven by the instants it is given
/// (the scheduler passes its clock's; tests pass their own).
public struct ScheduleTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var schedule: PolicySchedule
        public var next: Date
    }

    public private(set) var entries: [DaemonState.JobKind: Entry] = [:]

    /// Each schedule's first slot strictly after `now`.
    public init(schedules: [DaemonState.JobKind: PolicySchedule], now: Date) {
        for (kind, schedule) in schedules { entries[kind] = Entry(schedule: schedule, next: schedule.next(after: now)) }
    }

    /// The schedules of a policy's `schedule:` section, by job kind.
    public static func schedules(of policy: Policy?) -> [DaemonState.JobKind: PolicySchedule] {
        var schedules: [DaemonState.JobKind: PolicySchedule] = [:]
        if let backup = policy?.schedule?.backup { schedules[.backup] = backup }
        if let verify = policy?.schedule?.verifyRestore { schedules[.verifyRestore] = verify }
        return schedules
    }

    /// The next slot of each scheduled kind.
    public var nextRuns: [DaemonState.JobKind: Date] { entries.mapValues(\.next) }

    /// The earliest next slot, nil when nothing is scheduled.
    public var earliest: Date? { entries.values.map(\.next).min() }

    /// The kinds whose slot has come at `now`, each with what to do (a kind in `running` skips),
    /// and moves each past `now`: slots missed while the process could not look (a suspended
    /// host, a clock step) fold into this one rather than firing one after another.
    public mutating func fire(now: Date, running: Set<DaemonState.JobKind>) -> [(kind: DaemonState.JobKind, decision: SlotDecision)] {
        var fired: [(kind: DaemonState.JobKind, decision: SlotDecision)] = []
        for kind in DaemonState.JobKind.allCases {
            guard var entry = entries[kind], entry.next <= now else { continue }
            fired.append((kind, running.contains(kind) ? .skip : .start))
            entry.next = entry.schedule.next(after: now)
            entries[kind] = entry
        }
        return fired
    }

    /// How one kind's schedule changed in a `replace`.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var kind: DaemonState.JobKind
        public var old: PolicySchedule?
        public var new: PolicySchedule?
        public var description: String {
            "\(kind.rawValue): \(old.map { "\"\($0)\"" } ?? "none") -> \(new.map { "\"\($0)\"" } ?? "none")"
        }
    }

    /// Takes new schedules: an unchanged one keeps its next slot, a changed or new one gets its
    /// first slot after `now`, a removed one is dropped. Returns what changed.
    @discardableResult
    public mutating func replace(schedules: [DaemonState.JobKind: PolicySchedule], now: Date) -> [Change] {
        var changes: [Change] = []
        for kind in DaemonState.JobKind.allCases {
            let old = entries[kind]?.schedule, new = schedules[kind]
            guard old != new else { continue }
            changes.append(Change(kind: kind, old: old, new: new))
            entries[kind] = new.map { Entry(schedule: $0, next: $0.next(after: now)) }
        }
        return changes
    }
}
