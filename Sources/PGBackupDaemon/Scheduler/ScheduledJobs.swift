import Foundation
import Logging
import PGBackupPostgres
import PGBackupServices

/// The bodies of the scheduled jobs, each from the configuration in force when it starts.
struct ScheduledJobs: Sendable {
    let logger: Logger
    /// The server to back up from: the daemon's chosen primary (nil: `BackupService` chooses).
    let server: @Sendable () -> ConninfoServer?
    /// The `pgbackup` executable, for the restored server's `restore_command`.
    let executable: String
    /// Options of the scheduled backups (`--backup-max-rate`, …).
    let backupOptions: BackupOptions

    /// A base backup from the daemon's primary. One in which the server found pages whose
    /// checksum failed is kept (the service stored it) but is a failed job: counted, logged as
    /// an error, and no retention runs after it.
    func backup(_ configuration: SchedulerConfiguration) async throws -> JobResult {
        let server = server()
        let manifest = try await BackupService(settings: configuration.settings, logger: logger, server: server).run(backupOptions)
        if let failures = manifest.checksumFailures {
            throw BackupError.checksumFailures(id: manifest.id, failures)
        }
        return JobResult(
            storedBytes: manifest.totals.storedNew, backupID: manifest.id.description,
            metadata: [
                "database_bytes": "\(manifest.totals.databaseSize)", "deduplicated_bytes": "\(manifest.totals.storedDeduplicated)",
                "server": "\(server.map { "\($0)" } ?? "-")",
            ])
    }

    /// The retention policy, as loaded when the configuration was (re)loaded.
    func retention(_ configuration: SchedulerConfiguration) async throws -> JobResult {
        var service = RetentionService(settings: configuration.settings, logger: logger)
        service.policy = configuration.policy
        let report = try await service.run(dryRun: false)
        return JobResult(metadata: [
            "kept": "\(report.kept.count)", "removed": "\(report.removed.count)",
            "removed_ids": "\(report.removed.map(\.id.description).joined(separator: ","))",
            "freed_bytes": "\(report.bytesFreed)", "sweep": "\(report.sweep)",
        ])
    }

    /// A restore test of the latest point; a verification that ran and failed is a failed job
    /// (its record is stored all the same).
    func verifyRestore(_ configuration: SchedulerConfiguration) async throws -> JobResult {
        var options = VerifyRestoreOptions(executable: executable)
        options.runAs = configuration.settings.verifyRunAs
        if let path = configuration.policy?.verification?.checkSQL {
            guard let content = FileManager.default.contents(atPath: path) else {
                throw JobFailure(description: "unable to read the check SQL file '\(path)' (verification.check_sql in \(configuration.policy?.path ?? "the policy")): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
            }
            options.checkSQL = String(decoding: content, as: UTF8.self)
        }
        let outcome = try await VerifyRestoreService(settings: configuration.settings, logger: logger).run(options)
        let record = outcome.record
        let failed = record.checks.filter { !$0.ok }
        guard record.ok else {
            throw JobFailure(description: "the verification of backup \(record.backupID?.description ?? "-") failed: "
                + failed.map { "\($0.name): \($0.detail.split(separator: "\n").first ?? "")" }.joined(separator: "; "))
        }
        var metadata: Logger.Metadata = ["target": "\(record.target)", "checks": "\(record.checks.map(\.name).joined(separator: ","))"]
        if let seconds = record.restoreSeconds { metadata["restore_seconds"] = "\(JobRecorder.rounded(seconds))" }
        if let seconds = record.recoverySeconds { metadata["recovery_seconds"] = "\(JobRecorder.rounded(seconds))" }
        if let bytes = record.bytes { metadata["restored_bytes"] = "\(bytes)" }
        return JobResult(backupID: record.backupID?.description, metadata: metadata)
    }
}
