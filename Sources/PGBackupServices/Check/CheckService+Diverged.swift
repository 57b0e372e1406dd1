import Foundation
import PGBackupFoundations
import PGBackupRepository

extension CheckService {
    /// What `diverged` judges: the records of the WAL the archive kept apart (`wal/diverged/`)
    /// and the newest backup.
    func diverged(repository: Repository, info: RepositoryInfo) async throws -> CheckInputs.Diverged {
        let segmentSize = info.walSegmentSize
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        let records = try await archive.diverged()
        let newest = try await BackupCatalog(repository: repository).survey().backups.max { $0.stopTime < $1.stopTime }
        return CheckInputs.Diverged(records: records, newestBackupID: newest?.id.description, newestBackupStop: newest?.stopTime)
    }
}

extension CheckRules {
    /// `diverged`: healthy when nothing was kept apart, or all of it before the newest backup (a
    /// backup after it is a restorable point of the history the repository follows); unhealthy
    /// when WAL was kept apart since, with the newest file, its source and time.
    public static func diverged(_ records: [DivergedWAL], newestBackupID: String?, newestBackupStop: Date?) -> CheckResult {
        guard !records.isEmpty else {
            return CheckResult(name: "diverged", ok: true, detail: "no diverged WAL")
        }
        let recent = records.filter { record in newestBackupStop.map { record.detectedAt > $0 } ?? true }
        guard let newest = recent.max(by: { ($0.detectedAt, $0.key) < ($1.detectedAt, $1.key) }) else {
            return CheckResult(name: "diverged", ok: true, detail: "\(count(records.count)) kept apart under wal/diverged/, all recorded before the newest backup \(newestBackupID ?? "")")
        }
        let since = newestBackupID.map { " since the newest backup \($0)" } ?? ""
        return CheckResult(
            name: "diverged", ok: false,
            detail: "\(count(recent.count)) kept apart under wal/diverged/\(since) (newest \(newest.fileName) from \(newest.source) at \(timestamp(newest.detectedAt)): \(newest.reason)); "
                + "HINT: a former primary archived WAL after a failover: fence it, then rejoin it with `pgbackup follow`")
    }

    private static func count(_ n: Int) -> String {
        "\(n) diverged WAL file\(n == 1 ? "" : "s")"
    }
}
