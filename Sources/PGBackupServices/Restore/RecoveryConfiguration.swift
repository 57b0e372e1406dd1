import Foundation
import PGBackupFoundations

/// The settings a restored data directory starts recovery with: appended to
/// `postgresql.auto.conf` once the backed-up server's own assignments of them are removed
/// (`replacedSettings`: a backup of a server that was itself restored to a target must not stop
/// this recovery at that old target), plus `recovery.signal`, or `standby.signal` for a standby.
/// Pure.
public struct RecoveryConfiguration: Sendable, Hashable {
    public var restoreCommand: String
    public var target: RestoreTarget
    /// Nil: `latest` (a standby follows its primary's future timelines).
    public var timeline: TimelineID?
    public var action: RestoreTargetAction
    public var exclusive: Bool
    /// Set for `--standby`: the node streams from this primary once it has replayed the archive.
    public var primaryConninfo: String?
    /// Writes `archive_mode = 'off'`: the restored server, once promoted, does not run the
    /// backed-up server's `archive_command` (`RestoreArchiveMode`).
    public var archiveOff = false

    public init(restoreCommand: String, target: RestoreTarget, timeline: TimelineID?, action: RestoreTargetAction, exclusive: Bool, primaryConninfo: String?) {
        self.restoreCommand = restoreCommand
        self.target = target
        self.timeline = timeline
        self.action = action
        self.exclusive = exclusive
        self.primaryConninfo = primaryConninfo
    }

    /// `recovery.signal`, or `standby.signal` for a standby.
    public var signalFile: String { primaryConninfo == nil ? "recovery.signal" : "standby.signal" }

    /// The settings whose backed-up assignments go before the block is appended: every recovery
    /// target, `restore_command`, `recovery_target_timeline`, and for a standby `primary_conninfo`.
    public var replacedSettings: Set<String> {
        AutoConf.recoveryTargets.union(["restore_command", "recovery_target_timeline"])
            .union(primaryConninfo == nil ? [] : ["primary_conninfo"])
            .union(archiveOff ? ["archive_mode"] : [])
    }

    /// `postgresql.auto.conf` as backed up (`existing`), without `replacedSettings`, with the
    /// block appended.
    public func autoConf(replacing existing: String, comment: String) -> String {
        var kept = AutoConf.removingAssignments(of: replacedSettings, in: existing)
        while kept.hasSuffix("\n") { kept.removeLast() }
        return kept + "\n" + autoConfBlock(comment: comment)
    }

    /// The block appended to `postgresql.auto.conf`.
    public func autoConfBlock(comment: String) -> String {
        var settings: [(String, String)] = [("restore_command", restoreCommand)]
        switch target {
        case .latest: break
        case .immediate: settings.append(("recovery_target", "immediate"))
        case .time(let date): settings.append(("recovery_target_time", RestoreTime.format(date)))
        case .lsn(let lsn): settings.append(("recovery_target_lsn", lsn.description))
        case .xid(let xid): settings.append(("recovery_target_xid", String(xid)))
        case .name(let name): settings.append(("recovery_target_name", name))
        }
        settings.append(("recovery_target_timeline", timeline.map { String($0.rawValue) } ?? "latest"))
        if target != .latest {
            settings.append(("recovery_target_action", action.rawValue))
            if exclusive { settings.append(("recovery_target_inclusive", "off")) }
        }
        if let primaryConninfo { settings.append(("primary_conninfo", primaryConninfo)) }
        if archiveOff { settings.append(("archive_mode", "off")) }
        return "\n# \(comment)\n" + settings.map { "\($0.0) = \(Quoting.configurationValue($0.1))" }.joined(separator: "\n") + "\n"
    }
}
