import ArgumentParser
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices

/// The restore target options `restore` and `verify-restore` share (DESIGN.md, "CLI contract").
struct RestoreTargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Recover up to this time.", valueName: "time"))
    var targetTime: String?
    @Option(help: ArgumentHelp("Recover up to this WAL position.", valueName: "X/Y"))
    var targetLsn: String?
    @Option(help: ArgumentHelp("Recover up to this transaction id.", valueName: "xid"))
    var targetXid: UInt64?
    @Option(help: ArgumentHelp("Recover up to this restore point (pg_create_restore_point).", valueName: "name"))
    var targetName: String?
    @Flag(help: "Recover only to the end of the backup (its first consistent point).")
    var targetImmediate = false

    @Option(help: ArgumentHelp("The backup to restore (default: the newest that can reach the target).", valueName: "id"))
    var backupId: String?
    @Option(help: ArgumentHelp("latest (default), current, or a timeline number.", valueName: "timeline"))
    var targetTimeline: String = "latest"
    @Flag(help: "Stop just before the target instead of just after it.")
    var targetExclusive = false

    func validate() throws {
        let targets = [targetTime != nil, targetLsn != nil, targetXid != nil, targetName != nil, targetImmediate].filter { $0 }.count
        guard targets <= 1 else { throw ValidationError("give at most one of --target-time, --target-lsn, --target-xid, --target-name, --target-immediate") }
    }

    /// The target given (`.latest` when none).
    func target() throws -> RestoreTarget {
        if let targetTime { return .time(try RestoreTime.parse(targetTime)) }
        if let targetLsn {
            guard let lsn = LSN(targetLsn) else { throw ValidationError("--target-lsn must look like 16/B374D848, not '\(targetLsn)'") }
            return .lsn(lsn)
        }
        if let targetXid { return .xid(targetXid) }
        if let targetName { return .name(targetName) }
        if targetImmediate { return .immediate }
        return .latest
    }

    func timeline() throws -> RestoreTimeline { try RestoreTimeline(parsing: targetTimeline) }

    func backupID() throws -> BackupID? {
        guard let backupId else { return nil }
        guard let id = BackupID(backupId) else { throw ValidationError("--backup-id must look like 20261122T101500Z, not '\(backupId)'") }
        return id
    }
}
