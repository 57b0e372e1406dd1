import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupStorage

/// The decisions of `pgbackup check` that need no server or repository: each takes what was
/// measured and returns the check's result. `CheckService` measures.
public enum CheckRules {
    /// `backup_age`: the newest complete backup's stop time against `now`.
    public static func backupAge(newestStop: Date?, newestID: String?, now: Date, maxAge: TimeInterval) -> CheckResult {
        guard let newestStop, let newestID else {
            return CheckResult(name: "backup_age", ok: false, detail: "no complete backup in the repository; HINT: run `pgbackup backup`")
        }
        let age = max(now.timeIntervalSince(newestStop), 0)
        let ok = age <= maxAge
        var detail = "newest backup \(newestID) ended \(duration(age)) ago (limit \(duration(maxAge)))"
        if !ok { detail += "; HINT: run `pgbackup backup`, and check that scheduled backups run" }
        return CheckResult(name: "backup_age", ok: ok, detail: detail)
    }

    /// `backup_checksums`: the newest complete backup holds no page whose checksum the server
    /// found wrong while it sent it. An older backup's failures do not count: a newer clean one
    /// says the damage is gone (or was repaired).
    public static func backupChecksums(newestID: String?, failures: PageChecksumFailures?) -> CheckResult {
        guard let newestID else {
            return CheckResult(name: "backup_checksums", ok: true, detail: "no complete backup to judge (see backup_age)")
        }
        guard let failures else {
            return CheckResult(name: "backup_checksums", ok: true, detail: "newest backup \(newestID): no checksum failure reported by the server")
        }
        return CheckResult(
            name: "backup_checksums", ok: false,
            detail: "newest backup \(newestID) has checksum failures: \(failures.summary); it is kept and restorable, "
                + "with those pages as the server read them (damaged); HINT: run pg_amcheck on the primary, restore the damaged "
                + "relations from an earlier backup without checksum failures, then take a new backup")
    }

    /// `redundancy`: at least `minimum` complete backups; `policy` names the policy whose
    /// `minimum_redundancy` set it (nil: the default, 1).
    public static func redundancy(complete: Int, minimum: Int, policy: String?) -> CheckResult {
        let source = policy.map { "minimum_redundancy of policy \($0)" } ?? "no minimum_redundancy: at least 1"
        let ok = complete >= minimum
        var detail = "\(complete) complete backup\(complete == 1 ? "" : "s"), \(minimum) required (\(source))"
        if !ok { detail += "; HINT: run `pgbackup backup`" }
        return CheckResult(name: "redundancy", ok: ok, detail: detail)
    }

    /// `slot`: the slot exists; its WAL retained against `maxRetained`.
    /// An `invalidation` fails it whatever else: the slot keeps no WAL any more.
    public static func slot(
        name: String, active: Bool?, restartLSN: LSN?, currentLSN: LSN?, maxRetained: Int64,
        invalidation: SlotInvalidation? = nil, inactiveSince: Date? = nil
    ) -> CheckResult {
        guard let active else {
            return CheckResult(name: "slot", ok: false, detail: "replication slot '\(name)' does not exist on the primary; HINT: start `pgbackup daemon` (it creates the slot), or set PGBACKUP_SLOT to the slot's name")
        }
        let state = active ? "active" : "inactive"
        if let invalidation {
            let setting = invalidation.reason == "idle_timeout" ? "idle_replication_slot_timeout" : "max_slot_wal_keep_size"
            let since = inactiveSince.map { ", unused since \(timestamp($0))" } ?? ""
            return CheckResult(name: "slot", ok: false, detail: "replication slot '\(name)' (\(state)) was invalidated by the server (invalidation_reason \(invalidation.reason): \(invalidation.explanation)\(since)): it keeps no WAL for the repository, and WAL after the repository's end may be gone; HINT: start `pgbackup daemon`: it drops and recreates the slot, records the WAL the server removed as a gap and takes a base backup after it; then keep it running, or raise \(setting) on the server")
        }
        guard let restartLSN, let currentLSN else {
            return CheckResult(name: "slot", ok: true, detail: "replication slot '\(name)' exists (\(state)) and reserves no WAL yet")
        }
        let retained = currentLSN > restartLSN ? Int64(currentLSN - restartLSN) : 0
        let ok = retained <= maxRetained
        var detail = "replication slot '\(name)' \(state), restart_lsn \(restartLSN), retains \(bytes(retained)) (limit \(bytes(maxRetained)))"
        if !ok {
            detail += active
                ? "; HINT: the daemon falls behind: check its log and the repository's throughput"
                : "; HINT: nothing consumes the slot: start `pgbackup daemon`, or drop the slot before the primary's disk fills"
        }
        return CheckResult(name: "slot", ok: ok, detail: detail)
    }

    /// `wal`: how far the archive (partial tail included) is behind the server's current WAL
    /// position, in bytes and in seconds of the server's clock. Caught up (0 bytes) is healthy
    /// whatever the age: an idle server writes no WAL. Without any recorded server time, the age
    /// is unknown and less than one segment behind counts as healthy.
    public static func wal(
        currentLSN: LSN, archiveEnd: LSN?, serverNow: Date, newestArchivedTime: Date?, maxAge: TimeInterval, segmentSize: UInt64
    ) -> CheckResult {
        guard let archiveEnd else {
            return CheckResult(name: "wal", ok: false, detail: "the repository holds no WAL (server at \(currentLSN)); HINT: start `pgbackup daemon`, or set archive_command to `pgbackup wal-push %p`")
        }
        let behind = currentLSN > archiveEnd ? currentLSN - archiveEnd : 0
        var detail = "archive ends at \(archiveEnd), server at \(currentLSN): \(bytes(Int64(behind))) behind"
        let ok: Bool
        if let newestArchivedTime {
            let age = max(serverNow.timeIntervalSince(newestArchivedTime), 0)
            detail += ", newest archived WAL \(duration(age)) old by the server's clock (limit \(duration(maxAge)))"
            ok = behind == 0 || age <= maxAge
        } else {
            detail += ", age unknown (the newest archived WAL carries no server time)"
            ok = behind < segmentSize
        }
        if !ok { detail += "; HINT: WAL does not reach the repository: check that `pgbackup daemon` runs and its log" }
        return CheckResult(name: "wal", ok: ok, detail: detail)
    }

    /// `verification`: the newest verify-restore record. None is healthy, and says so.
    public static func verification(_ record: VerificationRecord?) -> CheckResult {
        guard let record else {
            return CheckResult(name: "verification", ok: true, detail: "never verified; HINT: run `pgbackup verify-restore` to prove a backup restores")
        }
        let what = "verify-restore of \(record.backupID?.description ?? "no backup") (target \(record.target)) at \(timestamp(record.startedAt))"
        if record.ok { return CheckResult(name: "verification", ok: true, detail: "\(what) passed") }
        let failed = record.checks.filter { !$0.ok }.map { "\($0.name): \($0.detail)" }
        return CheckResult(name: "verification", ok: false, detail: "\(what) FAILED (\(failed.isEmpty ? "no checks ran" : failed.joined(separator: "; "))); HINT: `pgbackup list` shows the record, run `pgbackup verify` and `pgbackup verify-restore` again")
    }

    // MARK: formatting

    /// `s3_credentials`: which source signs, the key, when its credentials expire; unhealthy when
    /// none could be had, when they have expired, or when the last refresh failed (they will
    /// expire). Never a secret.
    static func s3Credentials(_ status: S3CredentialStatus, now: Date) -> CheckResult {
        var detail = "\(status.source.rawValue): \(status.detail)"
        guard let key = status.accessKeyID else {
            return CheckResult(name: "s3_credentials", ok: false, detail: detail + "; no credentials: \(status.lastError ?? "none fetched yet")")
        }
        detail += "; access key \(key)"
        var ok = true
        if let expiration = status.expiration {
            let left = expiration.timeIntervalSince(now)
            detail += left > 0 ? "; expire \(timestamp(expiration)) (in \(duration(left)))" : "; EXPIRED at \(timestamp(expiration))"
            ok = left > 0
            detail += ", refreshed \(status.refreshes == 1 ? "once" : "\(status.refreshes) times") by this process"
        } else {
            detail += "; long-lived (no expiry)"
        }
        if let error = status.lastError, let failed = status.lastErrorAt, failed >= (status.fetchedAt ?? .distantPast) {
            ok = false
            detail += "; the last refresh failed at \(timestamp(failed)): \(error)"
        }
        return CheckResult(name: "s3_credentials", ok: ok, detail: detail)
    }

    /// `s3_encryption`: a probe object came back with the server-side encryption asked for.
    static func s3Encryption(_ probe: CheckInputs.Measured<CheckInputs.SSEProbe>) -> CheckResult {
        switch probe {
        case .measured(let found) where found.matches:
            return CheckResult(name: "s3_encryption", ok: true, detail: "a probe object was stored with \(found.answered), as configured (\(found.expected))")
        case .measured(let found):
            return CheckResult(name: "s3_encryption", ok: false,
                               detail: "a probe object was stored with \(found.answered), not the configured \(found.expected); HINT: check s3.sse and s3.sse_kms_key_id, and that the server supports them")
        case .failed(let reason):
            return CheckResult(name: "s3_encryption", ok: false, detail: "unable to check server-side encryption with a probe object: \(reason)")
        }
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let whole = Int(seconds.rounded())
        if whole < 120 { return "\(whole)s" }
        if whole < 7200 { return "\(whole / 60)m\(whole % 60 == 0 ? "" : "\(whole % 60)s")" }
        return "\(whole / 3600)h\((whole % 3600) / 60 == 0 ? "" : "\((whole % 3600) / 60)m")"
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
