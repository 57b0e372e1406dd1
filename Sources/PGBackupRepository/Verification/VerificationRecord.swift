import Foundation
import PGBackupFoundations

/// The result of one `pgbackup verify-restore`, stored as `<server>/verifications/<time>.json`
/// (sealed raw JSON) and read back by `list`, `show`, `check` and the daemon's `/health`.
public struct VerificationRecord: Codable, Sendable, Hashable {
    /// One check of the verification (the restore, the start and replay, `pg_amcheck`, the
    /// check SQL, …) with its result and, when it failed, why.
    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        public var ok: Bool
        public var detail: String
        public init(name: String, ok: Bool, detail: String) {
            self.name = name
            self.ok = ok
            self.detail = detail
        }
    }

    /// When the verification started (pgbackup's clock, UTC): also the record's key.
    public var startedAt: Date
    /// The backup that was restored (nil when the restore failed before one was chosen).
    public var backupID: BackupID?
    /// The restore target as the operator gave it (`latest`, `time 2026-11-22 10:15:00+00`, …).
    public var target: String
    public var restoreSeconds: Double?
    /// From the server's start until it accepted read-write connections (replay and promotion).
    public var recoverySeconds: Double?
    /// Bytes of file content restored.
    public var bytes: Int64?
    public var checks: [Check]
    /// True when every check passed.
    public var ok: Bool

    public init(
        startedAt: Date, backupID: BackupID?, target: String, restoreSeconds: Double?, recoverySeconds: Double?,
        bytes: Int64?, checks: [Check]
    ) {
        self.startedAt = startedAt
        self.backupID = backupID
        self.target = target
        self.restoreSeconds = restoreSeconds
        self.recoverySeconds = recoverySeconds
        self.bytes = bytes
        self.checks = checks
        self.ok = !checks.isEmpty && checks.allSatisfy(\.ok)
    }
}
